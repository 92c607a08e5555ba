"""`nasfs smb enable|disable|status|sessions|share`: the SMB (Samba) side of the array.

enable/disable are the setting `smb.enabled` (through the daemon, which starts or stops
smbd at once, or offline: smbd then starts with the next mount); status asks the daemon
for smbd's state and the connected sessions, sessions lists only those; share shows or
changes a share's SMB options (guests, Time Machine).
"""

from __future__ import annotations

import argparse
from typing import Any

from nasfs.cli.session import array_arguments, running_daemon, session_config
from nasfs.cli.users import emit, policy_session
from nasfs.client.smb import smb_options


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    smb = subparsers.add_parser("smb", help="share the array over SMB (Samba)")
    actions = smb.add_subparsers(dest="smb_command", metavar="ACTION", required=True)
    on = actions.add_parser("enable", help="serve the shares over SMB while mounted")
    on.set_defaults(func=cmd_enable)
    off = actions.add_parser("disable", help="stop serving over SMB")
    off.set_defaults(func=cmd_disable)
    status = actions.add_parser("status", help="smbd's state and the connected sessions")
    status.set_defaults(func=cmd_status)
    sessions = actions.add_parser("sessions", help="the connected SMB sessions: user, client "
                                  "address, protocol, open files")
    sessions.set_defaults(func=cmd_sessions)
    share = actions.add_parser("share", help="show or change a share's SMB options")
    share.add_argument("name", metavar="SHARE")
    share.add_argument("--guest", action=argparse.BooleanOptionalAction, default=None,
                       help="let guests (any name Samba does not know) read the share")
    share.add_argument("--time-machine", type=int, metavar="GIB", dest="time_machine",
                       help="a Time Machine target of at most GIB GiB (0: not a target)")
    share.add_argument("--case-sensitive", action=argparse.BooleanOptionalAction,
                       default=None, help="look names up in their exact case (faster "
                       "creates in big folders; clients must use the exact case)")
    share.set_defaults(func=cmd_share)
    for p in (on, off, status, sessions, share):
        array_arguments(p)


def _status(args: argparse.Namespace) -> dict[str, Any]:
    client = running_daemon(session_config(args), args.at)
    if client is not None:
        with client:
            return dict(client.call("smb.status", {}))
    with policy_session(args, "nasfs smb status") as policy:
        settings = policy.settings_get()
    return {"enabled": bool(settings["smb.enabled"]), "running": False, "pid": None,
            "port": settings["smb.port"], "interfaces": str(settings["smb.interfaces"]).split(),
            "state_dir": settings["smb.state_dir"],
            "problem": "the array is not mounted" if settings["smb.enabled"] else None,
            "sessions": [], "users_without_samba_password": []}


def describe(status: dict[str, Any]) -> str:
    if not status["enabled"]:
        lines = ["SMB is off ('nasfs smb enable' switches it on)"]
    elif status["running"]:
        where = ", ".join(status["interfaces"]) or "all interfaces"
        lines = [f"SMB is on: smbd (pid {status['pid']}) listens on port {status['port']} "
                 f"({where})"]
    else:
        lines = [f"SMB is on but smbd is not running: {status['problem'] or 'not started'}"]
    for s in status["sessions"]:
        lines.append(f"  {s['user']} from {s['client']}, {s['protocol']}, "
                     f"{s['open_files']} open file{'s' if s['open_files'] != 1 else ''}")
    if status["users_without_samba_password"]:
        lines.append("users who must set their password again to log in over SMB: "
                     + ", ".join(status["users_without_samba_password"]))
    return "\n".join(lines)


def _switch(args: argparse.Namespace, on: bool) -> int:
    with policy_session(args, f"nasfs smb {'enable' if on else 'disable'}") as policy:
        policy.settings_set("smb.enabled", on)
    status = _status(args)
    emit(args, status, describe(status))
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    return _switch(args, True)


def cmd_disable(args: argparse.Namespace) -> int:
    return _switch(args, False)


def cmd_status(args: argparse.Namespace) -> int:
    status = _status(args)
    emit(args, status, describe(status))
    return 0


def describe_sessions(sessions: list[dict[str, Any]]) -> str:
    if not sessions:
        return "no SMB sessions"
    lines = [f"{'user':<16} {'client':<40} {'protocol':<9} {'encrypted':<11} open files"]
    for s in sessions:
        lines.append(f"{s['user'] or '(guest)':<16} {s['client'] or '-':<40} "
                     f"{s['protocol'] or '-':<9} {s.get('encryption') or 'no':<11} "
                     f"{s['open_files']}")
    return "\n".join(lines)


def cmd_sessions(args: argparse.Namespace) -> int:
    sessions = list(_status(args)["sessions"])
    emit(args, {"sessions": sessions}, describe_sessions(sessions))
    return 0


def describe_share(options: dict[str, Any]) -> str:
    tm = options["time_machine_gib"]
    return "\n".join([
        f"share {options['name']}" + (" (hidden)" if options["hidden"] else ""),
        f"  guests: {'may read it' if options['guest'] else 'no'}",
        f"  Time Machine: {f'a target of at most {tm} GiB' if tm else 'no'}",
        f"  names: {'exact case' if options['case_sensitive'] else 'any case'}"])


def cmd_share(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.guest is not None:
        changes["guest"] = args.guest
    if args.time_machine is not None:
        changes["time_machine_gib"] = args.time_machine or None
    if args.case_sensitive is not None:
        changes["case_sensitive"] = args.case_sensitive
    with policy_session(args, "nasfs smb share") as policy:
        share = (policy.share_edit(args.name, **changes) if changes
                 else policy.share_show(args.name))
    options = smb_options(share)
    emit(args, options, describe_share(options))
    return 0
