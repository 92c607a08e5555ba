"""`nasfs trash list|restore|purge|usage`: the trash of a mounted array, through its daemon."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nasfs.cli.users import array_arguments, emit
from nasfs.client.trash import TrashClient
from nasfs.config import load_config
from nasfs.errors import NasfsError, UsageError

log = logging.getLogger(__name__)


class TrashNeedsDaemon(NasfsError):
    """The trash is managed through the daemon of a mounted array."""


@contextlib.contextmanager
def trash_session(args: argparse.Namespace) -> Iterator[TrashClient]:
    from nasfs.client import Client, DaemonNotRunning
    from nasfs.client.connection import Connection
    from nasfs.daemon import registry

    config = load_config(args.config).with_overrides(members=args.array)
    if not config.members:
        target = None if os.environ.get("NASFS_SOCKET") else config
        try:
            with Client.connect(target) as c:
                yield TrashClient(c)
            return
        except DaemonNotRunning as exc:
            raise TrashNeedsDaemon(f"{exc} (the trash is managed while the array is "
                                   "mounted)") from None
    from nasfs.store.assembly import assemble

    uuid = assemble(list(config.members)).label.array_uuid
    record = registry.read_record(config.run_dir, uuid)
    if record is None:
        raise TrashNeedsDaemon(f"no daemon runs for array {uuid}: the trash is managed while "
                               "the array is mounted (nasfs mount)")
    client = Client(Connection.open(Path(record.socket), not_running_hint=""))
    with client:
        yield TrashClient(client)


def _when(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).strftime("%Y-%m-%d %H:%M")


def cmd_list(args: argparse.Namespace) -> int:
    with trash_session(args) as trash:
        items = trash.items(args.share, user=args.user)
    lines = [f"{i.id:>6}  {_when(i.deleted_ns)}  {i.share}{i.path}  "
             f"{i.size} bytes  by {i.user or i.uid}  ({i.reason})" for i in items]
    emit(args, [asdict(i) for i in items], "\n".join(lines) or "the trash is empty")
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    with trash_session(args) as trash:
        shares = trash.usage()
    lines = [f"{s}: {v['items']} items, {v['bytes']} bytes" for s, v in shares.items()]
    emit(args, shares, "\n".join(lines) or "the trash is empty")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    with trash_session(args) as trash:
        done = trash.restore(args.id, args.to)
    emit(args, asdict(done), f"restored #{args.id} to {done.share}{done.path}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    if (args.id is None) == (args.older_than is None):
        raise UsageError("give either an item ID or --older-than DAYS")
    with trash_session(args) as trash:
        items = trash.purge(args.id, older_than_days=args.older_than, share=args.share)
    emit(args, [asdict(i) for i in items], f"purged {len(items)} items")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("trash", help="deleted and overwritten files, per share")
    actions = parser.add_subparsers(dest="trash_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list trash items")
    listing.add_argument("share", nargs="?")
    listing.add_argument("--user", help="only what this user deleted")
    listing.set_defaults(func=cmd_list)
    usage = actions.add_parser("usage", help="items and bytes in the trash per share")
    usage.set_defaults(func=cmd_usage)
    restore = actions.add_parser("restore", help="put an item back (beside it if taken)")
    restore.add_argument("id", type=int)
    restore.add_argument("--to", metavar="PATH", help="SHARE/FOLDER.../NAME instead")
    restore.set_defaults(func=cmd_restore)
    purge = actions.add_parser("purge", help="delete items for good")
    purge.add_argument("id", type=int, nargs="?")
    purge.add_argument("--older-than", type=float, metavar="DAYS")
    purge.add_argument("--share", help="with --older-than: only this share")
    purge.set_defaults(func=cmd_purge)
    for p in (listing, usage, restore, purge):
        array_arguments(p)
