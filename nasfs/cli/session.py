"""Which array a command acts on, and whether its daemon answers.

Every command that acts on an array accepts the same three ways to name it (see
`array_arguments`): `--mountpoint MOUNTPOINT` (a mounted array), `--array MEMBER...` (its
member directories) and `--config FILE` (default /etc/nasfs/nasfs.toml, whose [array] and
[mount] say it). With none of them, and no default config naming an array, the one array
mounted on this box is meant; with several mounted the error lists them.

Commands that change policy or snapshots work through the array's daemon when one runs and
open the array themselves (under its lock) when none does; `running_daemon` is the one
decision they all share.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from nasfs.client import Client, DaemonGone, DaemonNotRunning
from nasfs.client.client import ArrayNotNamed
from nasfs.client.connection import Connection
from nasfs.config import Config, load_config
from nasfs.errors import UsageError


def array_arguments(parser: argparse.ArgumentParser, *, mountpoint: bool = True) -> None:
    """--array, --config and (unless the command has a MOUNTPOINT positional) --mountpoint."""
    parser.add_argument("--array", nargs="+", type=Path, metavar="MEMBER",
                        help="the array's member directories (any order)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default /etc/nasfs/nasfs.toml)")
    if mountpoint:
        parser.add_argument("--mountpoint", dest="at", type=Path, metavar="MOUNTPOINT",
                            help="the array mounted there (default: the one mounted on this "
                                 "box)")


def session_config(args: argparse.Namespace) -> Config:
    return load_config(args.config).with_overrides(members=args.array)


def running_daemon(config: Config, at: Path | None = None) -> Client | None:
    """A connected client to the daemon of the array meant, or None when the array was
    named by its members and no daemon runs for it (the caller may then work offline).

    Raises UsageError when nothing names an array and none (or more than one) is running.
    """
    if at is not None:
        return Client.connect(at.absolute(), run_dir=config.run_dir)
    if not config.members:
        try:
            return Client.connect(None if os.environ.get("NASFS_SOCKET") else config)
        except ArrayNotNamed as exc:
            raise UsageError(str(exc)) from None
        except DaemonNotRunning as exc:
            if config.socket or config.mountpoint or os.environ.get("NASFS_SOCKET"):
                raise  # a named daemon that does not answer: say which
            raise UsageError(str(exc)) from None
    from nasfs import registry
    from nasfs.store.identify import array_uuid

    # By label only: a stale or missing disk in the list must not hide a running daemon.
    uuid = array_uuid(list(config.members))
    record = registry.read_record(config.run_dir, uuid)
    if record is None:
        return None
    with contextlib.suppress(DaemonNotRunning, DaemonGone):
        return Client(Connection.open(Path(record.socket), not_running_hint=""))
    return None


def required_daemon(args: argparse.Namespace, what: str) -> Client:
    """The daemon of the array meant, for commands that only work on a mounted array."""
    config = session_config(args)
    client = running_daemon(config, getattr(args, "at", None))
    if client is None:
        from nasfs.store.identify import array_uuid

        uuid = array_uuid(list(config.members))
        raise DaemonNotRunning(f"no daemon runs for array {uuid}: {what} while the array is "
                               "mounted (nasfs mount)")
    return client
