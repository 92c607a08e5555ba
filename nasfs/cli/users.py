"""`nasfs user ...` and `nasfs group ...`: accounts and groups; and the helper every policy
subcommand uses to reach the policy layer (through the daemon when one runs, else offline on
the array's disks under the array lock).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from nasfs.cli.session import array_arguments, running_daemon, session_config
from nasfs.client.policy import PolicyClient
from nasfs.errors import UsageError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def policy_session(args: argparse.Namespace, purpose: str) -> Iterator[PolicyClient]:
    """A PolicyClient through the array's daemon, or offline when no daemon runs."""
    config = session_config(args)
    client = running_daemon(config, args.at)
    if client is not None:
        with client:
            yield PolicyClient(client)
        return
    from nasfs.policy.admin import Actor
    from nasfs.policy.offline import OfflineCaller, open_offline
    from nasfs.smb.hooks import samba_hooks

    # As the daemon does: a password set offline reaches Samba's passdb too.
    with open_offline(config, purpose, samba_hooks()) as service:
        yield PolicyClient(OfflineCaller(service, Actor(os.getuid(), os.getpid(), "nasfs")))


def read_password(args: argparse.Namespace, *, confirm: bool = True) -> str:
    """The password: the first line of stdin with --password-stdin (or when stdin is not a
    terminal), else asked for twice on the terminal."""
    if getattr(args, "password_stdin", False) or not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise UsageError("no password was given on standard input")
        return password
    password = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != password:
        raise UsageError("the two passwords differ")
    return password


def emit(args: argparse.Namespace, body: Any, text: str) -> None:
    if args.json:
        print(json.dumps(body, ensure_ascii=False))
    elif text:
        print(text)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    user = subparsers.add_parser("user", help="NAS user accounts")
    users = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = users.add_parser("add", help="add a user (uid = the uid their files carry)")
    add.add_argument("name", metavar="USER")
    add.add_argument("--uid", type=int, required=True)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.add_argument("--no-password", action="store_true",
                     help="no password (cannot log in at the console)")
    add.set_defaults(func=cmd_user_add)
    delete = users.add_parser("del", help="remove a user (their files stay)")
    delete.add_argument("name", metavar="USER")
    delete.set_defaults(func=cmd_user_del)
    passwd = users.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name", metavar="USER")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=cmd_user_passwd)
    listing = users.add_parser("list", help="list users")
    listing.set_defaults(func=cmd_user_list)
    unlock = users.add_parser("unlock", help="lift a lock-out of a user (or of a source)")
    unlock.add_argument("name", nargs="?", metavar="USER")
    unlock.add_argument("--source", help="unlock this terminal/address instead")
    unlock.set_defaults(func=cmd_user_unlock)
    for p in (add, delete, passwd, listing, unlock):
        array_arguments(p)

    group = subparsers.add_parser("group", help="NAS groups")
    groups = group.add_subparsers(dest="group_command", metavar="ACTION", required=True)
    gadd = groups.add_parser("add", help="add a group")
    gadd.add_argument("name", metavar="GROUP")
    gadd.add_argument("--gid", type=int, required=True)
    gadd.set_defaults(func=cmd_group_add)
    gdel = groups.add_parser("del", help="remove a group")
    gdel.add_argument("name", metavar="GROUP")
    gdel.set_defaults(func=cmd_group_del)
    gadduser = groups.add_parser("adduser", help="add a user to a group")
    gadduser.add_argument("group", metavar="GROUP")
    gadduser.add_argument("user", metavar="USER")
    gadduser.set_defaults(func=cmd_group_adduser)
    gdeluser = groups.add_parser("deluser", help="remove a user from a group")
    gdeluser.add_argument("group", metavar="GROUP")
    gdeluser.add_argument("user", metavar="USER")
    gdeluser.set_defaults(func=cmd_group_deluser)
    glist = groups.add_parser("list", help="list groups and their members")
    glist.set_defaults(func=cmd_group_list)
    for p in (gadd, gdel, gadduser, gdeluser, glist):
        array_arguments(p)


def cmd_user_add(args: argparse.Namespace) -> int:
    # Without --password-stdin and without a terminal to ask on (a script), no password.
    asks = args.password_stdin or sys.stdin.isatty()
    password = None if args.no_password or not asks else read_password(args)
    with policy_session(args, "nasfs user add") as policy:
        user = policy.user_add(args.name, args.uid, password=password)
    emit(args, user.__dict__, f"added user {user.name} (uid {user.uid})")
    return 0


def cmd_user_del(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs user del") as policy:
        policy.user_del(args.name)
    emit(args, {"name": args.name}, f"removed user {args.name}")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    password = read_password(args)
    with policy_session(args, "nasfs user passwd") as policy:
        policy.user_passwd(args.name, password)
    emit(args, {"name": args.name}, f"password of {args.name} changed")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs user list") as policy:
        users = policy.user_list()
    lines = [f"{u.name:<20} uid {u.uid:<8} {'admin ' if u.is_admin else ''}"
             f"{'locked ' if u.locked else ''}{'' if u.has_password else 'no-password '}"
             f"{','.join(u.groups)}".rstrip() for u in users]
    emit(args, [u.__dict__ for u in users], "\n".join(lines) or "(no users)")
    return 0


def cmd_user_unlock(args: argparse.Namespace) -> int:
    if (args.name is None) == (args.source is None):
        raise UsageError("name a user, or give --source, to unlock")
    with policy_session(args, "nasfs user unlock") as policy:
        report = policy.user_unlock_report(args.name, source=args.source)
    emit(args, report.__dict__, report.sentence())
    return 0


def cmd_group_add(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs group add") as policy:
        group = policy.group_add(args.name, args.gid)
    emit(args, group.__dict__, f"added group {group.name} (gid {group.gid})")
    return 0


def cmd_group_del(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs group del") as policy:
        policy.group_del(args.name)
    emit(args, {"name": args.name}, f"removed group {args.name}")
    return 0


def cmd_group_adduser(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs group adduser") as policy:
        policy.group_adduser(args.group, args.user)
    emit(args, {"group": args.group, "user": args.user}, f"{args.user} is in {args.group}")
    return 0


def cmd_group_deluser(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs group deluser") as policy:
        policy.group_deluser(args.group, args.user)
    emit(args, {"group": args.group, "user": args.user},
         f"{args.user} is no longer in {args.group}")
    return 0


def cmd_group_list(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs group list") as policy:
        groups = policy.group_list()
    lines = [f"{g.name:<20} gid {g.gid:<8} {','.join(g.members)}".rstrip() for g in groups]
    emit(args, [g.__dict__ for g in groups], "\n".join(lines) or "(no groups)")
    return 0
