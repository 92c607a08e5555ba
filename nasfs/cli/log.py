"""`nasfs log verify|export|show`: the access log and the system log."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from nasfs.cli.session import array_arguments
from nasfs.cli.users import emit, policy_session
from nasfs.client.logrows import target, who
from nasfs.client.policy import PolicyClient
from nasfs.errors import UsageError
from nasfs.operations import UnknownOperation, access_operation, operations_help
from nasfs.policy.export import ENCODINGS, write_csv_stream

log = logging.getLogger(__name__)

PAGE = 2000


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--system", action="store_true", help="the system log, not access")
    parser.add_argument("--since", metavar="TIME", help="ISO 8601 (UTC) or epoch seconds")
    parser.add_argument("--until", metavar="TIME")
    parser.add_argument("--user", metavar="USER")
    parser.add_argument("--share", metavar="SHARE")
    parser.add_argument("--op", metavar="OPERATION",
                        help=f"access log: one of {operations_help()} (unlink, read, write "
                             "also work); system log: the action, e.g. user.add, share.acl")
    parser.add_argument("--result", metavar="RESULT", help="OK or an errno name")


def _filter_params(args: argparse.Namespace) -> dict[str, Any]:
    if args.op is not None and not args.system:
        try:
            args.op = access_operation(args.op)
        except UnknownOperation as exc:
            raise UsageError(str(exc)) from None
    return {k: v for k, v in (("since", args.since), ("until", args.until),
                              ("user", args.user), ("share", args.share), ("op", args.op),
                              ("result", args.result)) if v is not None}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    top = subparsers.add_parser("log", help="the access log and the system log")
    logs = top.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    verify = logs.add_parser("verify", help="check the hash chain; report the first break")
    verify.add_argument("--system", action="store_true")
    verify.set_defaults(func=cmd_verify)
    export = logs.add_parser("export", help="write rows as CSV")
    _filters(export)
    export.add_argument("--format", choices=("csv",), default="csv")
    export.add_argument("--encoding", choices=ENCODINGS, default="utf-8")
    export.add_argument("-o", "--output", metavar="FILE", help="file to write (default stdout)")
    export.set_defaults(func=cmd_export)
    show = logs.add_parser("show", help="print rows")
    _filters(show)
    show.add_argument("--after-id", type=int, default=0)
    show.add_argument("--limit", type=int, default=50)
    show.set_defaults(func=cmd_show)
    for p in (verify, export, show):
        array_arguments(p)


def _kind(args: argparse.Namespace) -> str:
    return "system" if args.system else "access"


def cmd_verify(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs log verify") as policy:
        result = policy.log_verify(_kind(args))
    text = (f"{result.kind} log: {result.rows} rows, chain intact" if result.ok else
            f"{result.kind} log: BROKEN at row {result.first_bad_id}: {result.problem}")
    if result.gaps:
        # Chained in, so the chain is intact, but these rows never reached the log.
        text += f"; {len(result.gaps)} gap(s) where entries were lost:" + "".join(
            f"\n  row {g['id']}: {g['detail']}" for g in result.gaps)
    emit(args, result.__dict__, text)
    return 0 if result.ok else 1


def _pages(policy: PolicyClient, kind: str, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = policy.log_query(kind, after_id=after, limit=PAGE, **filters)
        yield from page.rows
        if len(page.rows) < PAGE or page.last_id is None:
            return
        after = page.last_id


def cmd_export(args: argparse.Namespace) -> int:
    filters = _filter_params(args)
    with policy_session(args, "nasfs log export") as policy:
        if args.output:
            # The daemon writes the file itself (same machine, as root).
            result = policy.log_export(os.path.abspath(args.output), _kind(args),
                                       encoding=args.encoding, **filters)
            emit(args, result.__dict__, f"wrote {result.rows} rows to {result.path}")
            return 0
        sys.stdout.flush()
        write_csv_stream(_pages(policy, _kind(args), filters), sys.stdout.buffer,
                         args.encoding)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with policy_session(args, "nasfs log show") as policy:
        page = policy.log_query(_kind(args), after_id=args.after_id, limit=args.limit,
                                **_filter_params(args))
    from nasfs.policy.export import format_time

    lines = [f"{r['id']:>8} {format_time(r['time_ns'])} {who(r):<12} "
             f"{'from ' + r['client'] + ' ' if r.get('client') else ''}"
             f"{r['operation']:<14} {r['result']:<8} {target(r)}"
             f"{' [admin]' if r.get('admin') else ''}"
             f"{'  ' + r['detail'] if r.get('detail') else ''}" for r in page.rows]
    emit(args, page.__dict__, "\n".join(lines) or "(no rows)")
    return 0
