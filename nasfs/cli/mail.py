"""`nasfs mail test [--to ADDRESS...]`: send a test mail through the daemon, now.

The mail settings themselves are `nasfs settings set mail.host ...` (see docs/mail.md).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasfs.cli.users import array_arguments, emit
from nasfs.client import Client
from nasfs.config import load_config
from nasfs.errors import NasfsError

log = logging.getLogger(__name__)


class MailNeedsDaemon(NasfsError):
    """Mail is sent by the daemon of a mounted array."""


@contextlib.contextmanager
def daemon_client(args: argparse.Namespace) -> Iterator[Client]:
    """A client of the array's daemon ($NASFS_SOCKET, --array, or the config file)."""
    from nasfs.client import DaemonNotRunning
    from nasfs.client.connection import Connection
    from nasfs.daemon import registry
    from nasfs.store.assembly import assemble

    config = load_config(args.config).with_overrides(members=args.array)
    if not config.members:
        target = None if os.environ.get("NASFS_SOCKET") else config
        try:
            with Client.connect(target) as client:
                yield client
            return
        except DaemonNotRunning as exc:
            raise MailNeedsDaemon(f"{exc} (mail is sent by the running daemon)") from None
    uuid = assemble(list(config.members)).label.array_uuid
    record = registry.read_record(config.run_dir, uuid)
    if record is None:
        raise MailNeedsDaemon(f"no daemon runs for array {uuid}: mail is sent by the running "
                              "daemon (nasfs mount)")
    with Client(Connection.open(Path(record.socket), not_running_hint="")) as client:
        yield client


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    mail = subparsers.add_parser("mail", help="mail notifications (test the settings)")
    actions = mail.add_subparsers(dest="mail_command", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="send a test mail now and say what the server did")
    test.add_argument("--to", nargs="+", metavar="ADDRESS",
                      help="send to these addresses instead of mail.to")
    array_arguments(test)
    test.set_defaults(func=cmd_test)


def cmd_test(args: argparse.Namespace) -> int:
    with daemon_client(args) as client:
        sent_to = client.mail_test(args.to)
    emit(args, {"to": sent_to}, f"test mail sent to {', '.join(sent_to)}")
    return 0
