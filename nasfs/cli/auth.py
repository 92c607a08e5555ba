"""`nasfs auth check NAME` (the console login's path, password from stdin) and
`nasfs settings get|set`."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from nasfs.cli.session import array_arguments
from nasfs.cli.users import emit, policy_session, read_password
from nasfs.policy.settings import SETTINGS, setting_text

log = logging.getLogger(__name__)

EXIT_WRONG = 1
EXIT_LOCKED = 4


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    auth = subparsers.add_parser("auth", help="check a password (with lock-out)")
    auths = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    check = auths.add_parser("check", help="check NAME's password, read from stdin; exit 0 "
                                           "if right, 1 if wrong, 4 if locked")
    check.add_argument("name", metavar="USER")
    check.add_argument("--source", help="terminal or address the attempt comes from "
                                        "(default: this terminal)")
    check.set_defaults(func=cmd_check)
    array_arguments(check)

    settings = subparsers.add_parser("settings", help="policy settings")
    actions = settings.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    get = actions.add_parser("get", help="show settings")
    get.add_argument("key", nargs="?", metavar="KEY", help="one setting (default: all)")
    get.set_defaults(func=cmd_get)
    put = actions.add_parser("set", help="change a setting")
    put.add_argument("key", metavar="KEY", help="the setting, as `nasfs settings get` lists it")
    put.add_argument("value", metavar="VALUE",
                     help="yes/no, a number, a text, or a list separated by commas")
    put.set_defaults(func=cmd_set)
    for p in (get, put):
        array_arguments(p)


def _this_terminal() -> str:
    try:
        return os.ttyname(0)
    except OSError:
        return f"pid {os.getppid()}"


def cmd_check(args: argparse.Namespace) -> int:
    args.password_stdin = True
    password = read_password(args, confirm=False)
    with policy_session(args, "nasfs auth check") as policy:
        answer = policy.auth_check(args.name, password, args.source or _this_terminal())
    emit(args, answer.__dict__, answer.message)
    if answer.ok:
        return 0
    return EXIT_LOCKED if answer.locked else EXIT_WRONG


def cmd_get(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs settings get") as policy:
        values = policy.settings_get()
    if args.key is not None:
        if args.key not in values:
            policy_values = ", ".join(values)
            from nasfs.policy.errors import NotFound

            raise NotFound(f"there is no setting {args.key!r} (there are: {policy_values})")
        values = {args.key: values[args.key]}
    lines = [f"{k} = {setting_text(v)}" for k, v in values.items()]
    if args.key is not None and args.key in SETTINGS:
        lines.append(f"  {SETTINGS[args.key].help}")  # what it means, for the one asked
    emit(args, values, "\n".join(lines))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs settings set") as policy:
        value = policy.settings_set(args.key, args.value)
    emit(args, {args.key: value}, f"{args.key} = {setting_text(value)}")
    return 0
