"""`nasfs mkfs`, `nasfs rebuild`, `nasfs scrub` and `nasfs compact`: array maintenance.

scrub, rebuild and compact go through the array's daemon when one runs (it owns the
store); otherwise they open the array offline under the array lock so they never race a
daemon. mkfs never touches a running array: it refuses non-empty directories, and
with --force still refuses a member of an array in use or known here (nasfs.cli.mkfs_guard).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from nasfs import exitcodes
from nasfs.cli.session import array_arguments, running_daemon, session_config
from nasfs.config import Config, load_config
from nasfs.errors import UsageError
from nasfs.store import Progress, Store
from nasfs.store.disks import disk_index, disk_name

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    mkfs = subparsers.add_parser(
        "mkfs", help="make a new array on 3-16 empty member directories",
        description="Write a label on every member directory (each normally the mount point "
                    "of one disk). Parity 1 survives one lost disk, parity 2 two.")
    mkfs.add_argument("members", nargs="+", type=Path, metavar="MEMBER")
    mkfs.add_argument("--parity", type=int, choices=(1, 2), default=1)
    mkfs.add_argument("--force", action="store_true",
                      help="use directories that are not empty: their old nasfs data is "
                           "wiped (only stale or foreign data: never a member of an array "
                           "that is mounted, in use or in the config file)")
    mkfs.add_argument("--config", type=Path, metavar="FILE",
                      help="config file naming this box's array (default "
                           "/etc/nasfs/nasfs.toml)")
    mkfs.set_defaults(func=cmd_mkfs)

    rebuild = subparsers.add_parser(
        "rebuild", help="recreate a missing member on a new, empty directory",
        description="Rebuild missing disk N (numbered from 1, as `nasfs status` lists the "
                    "disks) from the other disks onto NEWDIR; resumes an interrupted rebuild "
                    "onto the same directory.")
    array_arguments(rebuild)
    rebuild.add_argument("--disk", dest="member", type=disk_index, required=True, metavar="N",
                         help="the number of the missing disk (see `nasfs status`)")
    rebuild.add_argument("--onto", type=Path, required=True, metavar="NEWDIR")
    rebuild.set_defaults(func=cmd_rebuild)

    scrub = subparsers.add_parser(
        "scrub", help="check every chunk and every parity; repair what parity can")
    array_arguments(scrub)
    scrub.add_argument("--resume", action="store_true", help="go on from an interrupted scrub")
    scrub.add_argument("--no-repair", action="store_true", help="only report")
    scrub.set_defaults(func=cmd_scrub)

    compact = subparsers.add_parser(
        "compact", help="reclaim the space of unreferenced chunks (mounted or not)")
    array_arguments(compact)
    compact.add_argument("--min-dead", type=float, default=0.5, metavar="FRACTION",
                         help="compact segments at least this dead (default 0.5)")
    compact.set_defaults(func=cmd_compact)


_progress_shown = False  # a progress line is on stderr, not yet ended by a newline


def _print_progress(p: Progress) -> None:
    global _progress_shown
    eta = f", {p.eta_s:.0f}s left" if p.eta_s is not None else ""
    pct = 100.0 * p.done_bytes / p.total_bytes if p.total_bytes else 100.0
    print(f"\r{pct:5.1f}%  {p.done_bytes >> 20} of {p.total_bytes >> 20} MiB, "
          f"{p.rate_bytes_per_s / 2**20:.0f} MiB/s{eta}   ", end="", file=sys.stderr)
    _progress_shown = True


def _ending_progress(command: Callable[[argparse.Namespace], int]
                     ) -> Callable[[argparse.Namespace], int]:
    """A command whose failure ends its progress line first, so the `nasfs: ...` error
    is a line of its own (it was appended to "  2.0%  0 of 22 MiB, ..." before)."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except BaseException:
            if _progress_shown:
                print(file=sys.stderr)
            raise
    return run


def _report(args: argparse.Namespace, what: str, report: Any) -> None:
    is_record = dataclasses.is_dataclass(report) and not isinstance(report, type)
    body = dataclasses.asdict(report) if is_record else report
    if args.json:
        print(json.dumps({"job": what, "report": body}))
        return
    print(file=sys.stderr)
    print(f"{what}: " + ", ".join(_field(k, v) for k, v in body.items()
                                  if not isinstance(v, list)))
    for key, lines in body.items() if isinstance(body, dict) else []:
        if isinstance(lines, list):  # unrecoverable items, metadata copies found damaged...
            for line in lines:
                print(f"  {key.replace('_', ' ')}: {line}")


def _field(key: str, value: Any) -> str:
    # Reports carry the member index (JSON keeps it); people read the disk's number.
    if key == "member" and isinstance(value, int):
        return disk_name(value)
    return f"{key.replace('_', ' ')} {value}"


def _offline(config: Config, members: list[Path], purpose: str) -> AbstractContextManager[Any]:
    from nasfs import registry
    from nasfs.store.assembly import assemble

    uuid = assemble(members).label.array_uuid
    return registry.ArrayLock.acquire(config.run_dir, uuid, purpose, what=f"array {uuid}")


def cmd_mkfs(args: argparse.Namespace) -> int:
    from nasfs.cli.mkfs_guard import mkfs_allowed

    with mkfs_allowed(args.members, load_config(args.config)):
        label = Store.create(args.members, args.parity, force=args.force)
    if args.json:
        print(json.dumps({"array_uuid": label.array_uuid, "members": len(args.members),
                          "parity": label.nparity}))
    else:
        print(f"created array {label.array_uuid}: {len(args.members)} disks, parity "
              f"{label.nparity} (survives {label.nparity} lost disk"
              f"{'s' if label.nparity > 1 else ''})")
    return 0


@_ending_progress
def cmd_rebuild(args: argparse.Namespace) -> int:
    config = session_config(args)
    # Absolute before it is sent to the daemon (whose working directory is not ours) and
    # before it is stored anywhere.
    onto = args.onto.absolute()
    progress = None if args.json else _print_progress
    client = running_daemon(config, args.at)  # None: the members were named, none serves them
    members = list(config.members)
    if client is not None:
        with client:
            result = client.rebuild(args.member, onto,
                                    on_progress=None if args.json else _print_job)
        _report(args, "rebuild", result.report)
        return _job_exit_code(result.report)
    with _offline(config, members, "nasfs rebuild"), Store.open(members) as store:
        report = store.rebuild(args.member, onto, progress=progress)
        present = dict(store.present)
        uuid = store.label.array_uuid
    _report(args, "rebuild", report)
    if config.source is not None and config.source.exists():
        from nasfs.config_follow import follow_config_file

        # The config file names the new disk, so that the next mount is not degraded.
        note = follow_config_file(config.source, uuid, args.member, onto, present)
        if note is not None and not args.json:
            print(f"updated {note}")
    return _job_exit_code(report)


def _job_exit_code(report: Any) -> int:
    """1 when anything was unrecoverable (a daemon's report is JSON, an offline one not)."""
    lost = report.get("unrecoverable") if isinstance(report, dict) else report.unrecoverable
    return exitcodes.FAILED if lost else exitcodes.OK


@_ending_progress
def cmd_scrub(args: argparse.Namespace) -> int:
    config = session_config(args)
    client = running_daemon(config, args.at)  # None: the members were named, none serves them
    members = list(config.members)
    if client is not None:
        with client:
            result = client.scrub(resume=args.resume, repair=not args.no_repair,
                                  on_progress=None if args.json else _print_job)
        _report(args, "scrub", result.report)
        return _job_exit_code(result.report)
    from nasfs.daemon.scrubjob import combine, scrub_offline_metadata

    opened: list[Any] = []  # the store's events at open: store.db copies it repaired
    with _offline(config, members, "nasfs scrub"):
        with Store.open(members, events=opened.append) as store:
            store_report = store.scrub(resume=args.resume, repair=not args.no_repair,
                                       progress=None if args.json else _print_progress)
        # Every copy of every metadata database too, once the store has closed its own.
        report = combine(store_report, scrub_offline_metadata(
            members, repair=not args.no_repair, repaired_at_open=opened))
    _report(args, "scrub", report)
    return _job_exit_code(report)


@_ending_progress
def cmd_compact(args: argparse.Namespace) -> int:
    config = session_config(args)
    if not 0.0 <= args.min_dead <= 1.0:
        raise UsageError("--min-dead must be a fraction between 0 and 1")
    client = running_daemon(config, args.at)  # None: the members were named, none serves them
    members = list(config.members)
    if client is not None:
        with client:
            result = client.compact(args.min_dead,
                                    on_progress=None if args.json else _print_job)
        _report(args, "compact", result.report)
        return 0
    with _offline(config, members, "nasfs compact"), Store.open(members) as store:
        report = store.compact(args.min_dead,
                               progress=None if args.json else _print_progress)
    _report(args, "compact", report)
    return 0


def _print_job(p: Any) -> None:
    _print_progress(Progress(int(p.done_bytes), int(p.total_bytes),
                             float(p.rate_bytes_per_s), p.eta_s))
