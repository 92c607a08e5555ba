"""`nasfs trash list|restore|purge|usage`: the trash of a mounted array, through its daemon."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from nasfs.cli.session import array_arguments, required_daemon
from nasfs.cli.users import emit
from nasfs.client.trash import TrashClient
from nasfs.errors import UsageError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def trash_session(args: argparse.Namespace) -> Iterator[TrashClient]:
    client = required_daemon(args, "the trash is managed")
    with client:
        yield TrashClient(client)


def _when(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).strftime("%Y-%m-%d %H:%M")


def cmd_list(args: argparse.Namespace) -> int:
    with trash_session(args) as trash:
        items = trash.items(args.share, user=args.user)
    lines = [f"{i.id:>6}  {_when(i.deleted_ns)}  {i.share}{i.path}  "
             f"{i.size} bytes  by {i.user or i.uid}  ({i.how})" for i in items]
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
    listing.add_argument("share", nargs="?", metavar="SHARE", help="only this share's trash")
    listing.add_argument("--user", help="only what this user deleted")
    listing.set_defaults(func=cmd_list)
    usage = actions.add_parser("usage", help="items and bytes in the trash per share")
    usage.set_defaults(func=cmd_usage)
    restore = actions.add_parser("restore", help="put an item back (beside it if taken)")
    restore.add_argument("id", type=int, metavar="ITEM-ID",
                         help="the number `nasfs trash list` shows")
    restore.add_argument("--to", metavar="PATH", help="SHARE/FOLDER.../NAME instead")
    restore.set_defaults(func=cmd_restore)
    purge = actions.add_parser("purge", help="delete items for good")
    purge.add_argument("id", type=int, nargs="?", metavar="ITEM-ID",
                       help="the number `nasfs trash list` shows")
    purge.add_argument("--older-than", type=float, metavar="DAYS")
    purge.add_argument("--share", help="with --older-than: only this share")
    purge.set_defaults(func=cmd_purge)
    for p in (listing, usage, restore, purge):
        array_arguments(p)
