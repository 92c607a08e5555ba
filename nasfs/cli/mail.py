"""`nasfs mail test [--to ADDRESS...]`: send a test mail through the daemon, now.

The mail settings themselves are `nasfs settings set mail.host ...` (see docs/mail.md).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from nasfs.cli.session import array_arguments, required_daemon
from nasfs.cli.users import emit
from nasfs.client import Client

log = logging.getLogger(__name__)


@contextlib.contextmanager
def daemon_client(args: argparse.Namespace) -> Iterator[Client]:
    """A client of the array's daemon (however the array was named: see nasfs.cli.session)."""
    client = required_daemon(args, "mail is sent by the daemon")
    with client:
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
