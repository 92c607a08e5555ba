"""`nasfs share ...`: create, edit, delete, list and show shares; set ACL entries; show a
user's effective access."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from nasfs.cli.session import array_arguments
from nasfs.cli.users import emit, policy_session
from nasfs.client.policy import ShareInfo
from nasfs.errors import UsageError

log = logging.getLogger(__name__)


def _options(parser: argparse.ArgumentParser, *, edit: bool) -> None:
    hidden = parser.add_mutually_exclusive_group()
    hidden.add_argument("--hidden", dest="hidden", action="store_true", default=None,
                        help="a shadow share: invisible to users without access")
    if edit:
        hidden.add_argument("--visible", dest="hidden", action="store_false")
    trash = parser.add_mutually_exclusive_group()
    trash.add_argument("--trash-days", type=int, metavar="N",
                       help="days deleted items stay in the trash (default 30)")
    trash.add_argument("--no-trash", action="store_true", help="deletes are final")
    parser.add_argument("--homes", action="store_true", default=None,
                        help="the homes share: a private folder per user")
    parser.add_argument("--force-group", metavar="GROUP",
                        help="group of new files and folders ('' to stop forcing)")
    parser.add_argument("--create-mode", metavar="MODE", help="mode of new files, e.g. 0664")
    parser.add_argument("--dir-mode", metavar="MODE", help="mode of new folders, e.g. 2775")
    parser.add_argument("--keep-overwritten", action=argparse.BooleanOptionalAction,
                        default=None, help="keep overwritten content in the trash (default on)")
    parser.add_argument("--time-machine", type=int, metavar="GIB", dest="time_machine",
                        help="offer the share to Macs as a Time Machine target of at most GIB "
                             "GiB over SMB (0: not a target)")
    parser.add_argument("--guest", action=argparse.BooleanOptionalAction, default=None,
                        help="let guests (no NAS account; over SMB, any unknown name) read "
                             "the share (default off)")
    parser.add_argument("--case-sensitive", action=argparse.BooleanOptionalAction,
                        default=None, help="over SMB, look names up in their exact case: "
                        "faster creates in big folders; clients must use the exact case "
                        "(default off)")


def _collect(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.hidden is not None:
        options["hidden"] = args.hidden
    if args.no_trash:
        options["trash_days"] = None
    elif args.trash_days is not None:
        options["trash_days"] = args.trash_days
    if args.homes:
        options["homes"] = True
    if args.force_group is not None:
        options["force_group"] = args.force_group or None
    for key in ("create_mode", "dir_mode"):
        value = getattr(args, key)
        if value is not None:
            options[key] = value or None
    if args.keep_overwritten is not None:
        options["keep_overwritten"] = args.keep_overwritten
    if args.time_machine is not None:
        options["time_machine_gib"] = args.time_machine or None
    if args.guest is not None:
        options["guest"] = args.guest
    if args.case_sensitive is not None:
        options["case_sensitive"] = args.case_sensitive
    return options


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    share = subparsers.add_parser("share", help="shares (top-level folders) and their ACLs")
    shares = share.add_subparsers(dest="share_command", metavar="ACTION", required=True)
    create = shares.add_parser("create", help="create a share")
    create.add_argument("name", metavar="SHARE")
    _options(create, edit=False)
    create.set_defaults(func=cmd_create)
    edit = shares.add_parser("edit", help="change a share's options")
    edit.add_argument("name", metavar="SHARE")
    _options(edit, edit=True)
    edit.set_defaults(func=cmd_edit)
    delete = shares.add_parser("del", help="forget a share (its files stay)")
    delete.add_argument("name", metavar="SHARE")
    delete.set_defaults(func=cmd_del)
    listing = shares.add_parser("list", help="list shares")
    listing.set_defaults(func=cmd_list)
    show = shares.add_parser("show", help="a share's options and ACL")
    show.add_argument("name", metavar="SHARE")
    show.set_defaults(func=cmd_show)
    acl = shares.add_parser("acl", help="set or remove an ACL entry")
    acl.add_argument("name", metavar="SHARE")
    who = acl.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="USER")
    who.add_argument("--group", metavar="GROUP")
    who.add_argument("--everyone", action="store_true")
    acl.add_argument("--access", required=True, choices=("rw", "ro", "none", "remove"))
    acl.set_defaults(func=cmd_acl)
    access = shares.add_parser("access", help="a user's effective access to a share")
    access.add_argument("name", metavar="SHARE")
    access.add_argument("--user", required=True, metavar="USER")
    access.add_argument("--home", metavar="OWNER",
                        help="(homes share) access to the folder of OWNER")
    access.set_defaults(func=cmd_access)
    for p in (create, edit, delete, listing, show, acl, access):
        array_arguments(p)


def describe(s: ShareInfo) -> str:
    flags = [f for f, on in (("hidden", s.hidden), ("homes", s.homes),
                             ("guests may read", s.guest)) if on]
    if s.time_machine_gib:
        flags.append(f"Time Machine, {s.time_machine_gib} GiB")
    lines = [f"share {s.name}" + (f" ({', '.join(flags)})" if flags else ""),
             f"  trash: {f'{s.trash_days} days' if s.trash_days else 'off'}, keep overwritten: "
             f"{'yes' if s.keep_overwritten else 'no'}",
             f"  force group: {s.force_group or '-'}, create mode: {s.create_mode or '-'}, "
             f"dir mode: {s.dir_mode or '-'}"]
    if not s.acl:
        lines.append("  acl: (empty: nobody but administrators)")
    for e in s.acl:
        who = "everyone" if e.kind == "everyone" else f"{e.kind} {e.principal}"
        lines.append(f"  acl: {who}: {e.access}")
    return "\n".join(lines)


def _as_json(s: ShareInfo) -> dict[str, Any]:
    body = dict(s.__dict__)
    body["acl"] = [e.__dict__ for e in s.acl]
    return body


def cmd_create(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs share create") as policy:
        share = policy.share_create(args.name, **_collect(args))
    emit(args, _as_json(share), describe(share))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    options = _collect(args)
    if not options:
        raise UsageError("nothing to change: give at least one option")
    with policy_session(args, "nasfs share edit") as policy:
        share = policy.share_edit(args.name, **options)
    emit(args, _as_json(share), describe(share))
    return 0


def cmd_del(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs share del") as policy:
        policy.share_del(args.name)
    emit(args, {"name": args.name}, f"removed share {args.name} (its files stay)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs share list") as policy:
        shares = policy.share_list()
    emit(args, [_as_json(s) for s in shares],
         "\n".join(describe(s) for s in shares) or "(no shares)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs share show") as policy:
        share = policy.share_show(args.name)
    emit(args, _as_json(share), describe(share))
    return 0


def cmd_acl(args: argparse.Namespace) -> int:
    kind, principal = (("user", args.user) if args.user else ("group", args.group)
                       if args.group else ("everyone", None))
    with policy_session(args, "nasfs share acl") as policy:
        share = policy.share_acl(args.name, kind, principal, args.access)
    emit(args, _as_json(share), describe(share))
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs share access") as policy:
        result = policy.share_effective(args.name, args.user, home=args.home)
    emit(args, result.__dict__, f"{result.user} on {result.share}: {result.why or result.access}")
    return 0
