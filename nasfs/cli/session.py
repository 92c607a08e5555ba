"""Finding the daemon an administrative command should talk to, before going offline.

Commands that change policy or snapshots work through the array's daemon when one runs
and open the array themselves (under its lock) when none does. This module holds the one
decision both share: which config is meant, and whether a live daemon answers for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from nasfs.client import Client, DaemonGone, DaemonNotRunning
from nasfs.client.connection import Connection
from nasfs.config import Config, load_config
from nasfs.errors import UsageError


def session_config(args: argparse.Namespace) -> Config:
    return load_config(args.config).with_overrides(members=args.array)


def running_daemon(config: Config) -> Client | None:
    """A connected client to the daemon of `config`'s array, or None when none runs.

    With no members named, only a daemon can be meant (by $NASFS_SOCKET, the config's
    socket or its mount point); with neither, the command has no array to work on.
    """
    if not config.members:
        if os.environ.get("NASFS_SOCKET") or config.socket or config.mountpoint:
            return Client.connect(None if os.environ.get("NASFS_SOCKET") else config)
        raise UsageError("no array given: name its member directories with --array, or list "
                         "them under [array] members in the config file")
    from nasfs.daemon import registry
    from nasfs.store.assembly import assemble

    uuid = assemble(list(config.members)).label.array_uuid
    record = registry.read_record(config.run_dir, uuid)
    if record is None:
        return None
    with contextlib.suppress(DaemonNotRunning, DaemonGone):
        return Client(Connection.open(Path(record.socket), not_running_hint=""))
    return None
