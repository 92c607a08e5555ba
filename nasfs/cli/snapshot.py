"""`nasfs snapshot create|list|delete|lock|unlock|restore|diff|schedule`: snapshots of an
array, through its daemon when one runs, else offline on the array's disks (under its lock).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from nasfs.cli.session import array_arguments, running_daemon, session_config
from nasfs.cli.users import emit
from nasfs.client.snapshots import SnapshotClient, SnapshotInfo
from nasfs.units import size

log = logging.getLogger(__name__)


@contextlib.contextmanager
def snapshot_session(args: argparse.Namespace) -> Iterator[SnapshotClient]:
    """A SnapshotClient through the array's daemon, or offline when no daemon runs."""
    config = session_config(args)
    client = running_daemon(config, args.at)
    if client is not None:
        with client:
            yield SnapshotClient(client)
        return
    from nasfs.snapshots.offline import OfflineSnapshots

    yield SnapshotClient(OfflineSnapshots(config))


def _ref(text: str) -> int | str:
    return int(text) if text.isdigit() else text




def _line(s: SnapshotInfo) -> str:
    when = datetime.datetime.fromtimestamp(s.created_ns / 1e9, datetime.UTC)
    return (f"{s.id:>5}  {s.name:<26} {when:%Y-%m-%d %H:%M:%S}  "
            f"{'locked' if s.locked else '      '}  exclusive {size(s.exclusive_bytes):>10}"
            f"  shared {size(s.shared_bytes):>10}")


def cmd_create(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        s = snaps.create(args.name, locked=args.lock)
    emit(args, asdict(s), f"snapshot {s.id} {s.name} taken")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        items = snaps.list()
    emit(args, [asdict(s) for s in items], "\n".join(map(_line, items)) or "no snapshots")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        s = snaps.delete(_ref(args.id))
    emit(args, asdict(s), f"snapshot {s.id} {s.name} deleted")
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        s = snaps.lock(_ref(args.id)) if args.snapshot_command == "lock" else snaps.unlock(
            _ref(args.id))
    emit(args, asdict(s), f"snapshot {s.id} {s.name} {'locked' if s.locked else 'unlocked'}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        done = snaps.restore(_ref(args.id), args.path, args.to)
    emit(args, asdict(done), f"restored {args.path} to {done.path} ({done.files} objects, "
                             f"{size(done.bytes)}; no data copied)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        d = snaps.diff(_ref(args.id), None if args.id2 is None else _ref(args.id2))
    lines = ([f"+ {p}" for p in d.added] + [f"M {p}" for p in d.changed]
             + [f"- {p}" for p in d.removed])
    emit(args, asdict(d), "\n".join(lines) or "no differences")
    return 0


KEEP_OPTIONS = ("keep_last", "keep_within_s", "keep_hourly", "keep_daily", "keep_weekly",
                "keep_monthly")


def _next_run(cron: str, now_s: float | None = None) -> str:
    """When a schedule fires next: in UTC (as cron is read) and in this box's local time."""
    from nasfs.cron import next_fire

    at = next_fire(cron, time.time() if now_s is None else now_s)
    utc = datetime.datetime.fromtimestamp(at, datetime.UTC)
    local = datetime.datetime.fromtimestamp(at).astimezone()
    return f"{utc:%Y-%m-%d %H:%M} UTC ({local:%H:%M} {local.tzname()} here)"


def cmd_schedule(args: argparse.Namespace) -> int:
    with snapshot_session(args) as snaps:
        if args.schedule_command == "list":
            items = snaps.schedules()
            lines = [f"{s.name}: '{s.cron}' (UTC), next {_next_run(s.cron)}; " + " ".join(
                f"{k.replace('_', '-')}={getattr(s, k)}" for k in KEEP_OPTIONS
                if getattr(s, k) is not None) for s in items]
            emit(args, [asdict(s) for s in items], "\n".join(lines) or "no schedules")
        elif args.schedule_command == "set":
            keep = {k: getattr(args, k) for k in KEEP_OPTIONS}
            s = snaps.set_schedule(args.name, args.cron, **keep)
            emit(args, asdict(s), f"schedule {s.name} set: '{s.cron}' (UTC), next "
                                  f"{_next_run(s.cron)}")
        else:
            snaps.delete_schedule(args.name)
            emit(args, {"name": args.name}, f"schedule {args.name} deleted")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    snap = subparsers.add_parser("snapshot", help="snapshots: take, list, restore, schedules")
    cmds = snap.add_subparsers(dest="snapshot_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="take a snapshot of the whole volume now")
    create.add_argument("--name", help="default: @GMT-YYYY.MM.DD-HH.MM.SS (UTC)")
    create.add_argument("--lock", action="store_true", help="never remove it automatically")
    create.set_defaults(func=cmd_create)
    listing = cmds.add_parser("list", help="snapshots with exclusive and shared size")
    listing.set_defaults(func=cmd_list)
    delete = cmds.add_parser("delete", help="delete a snapshot (give back its space)")
    delete.add_argument("id", metavar="SNAPSHOT", help="snapshot id or name")
    delete.set_defaults(func=cmd_delete)
    lock = cmds.add_parser("lock", help="keep a snapshot from automatic removal")
    unlock = cmds.add_parser("unlock", help="allow automatic removal again")
    for p in (lock, unlock):
        p.add_argument("id", metavar="SNAPSHOT", help="snapshot id or name")
        p.set_defaults(func=cmd_lock)
    restore = cmds.add_parser("restore", help="restore a file or folder from a snapshot")
    restore.add_argument("id", metavar="SNAPSHOT", help="snapshot id or name")
    restore.add_argument("path", metavar="PATH",
                         help="path from the volume root, e.g. docs/report.odt")
    restore.add_argument("--to", metavar="DEST",
                         help="restore there (must not exist); default: the original path, "
                              "or beside it as 'NAME (SNAPSHOT)' if that is taken")
    restore.set_defaults(func=cmd_restore)
    diff = cmds.add_parser("diff", help="what was added, changed, removed since a snapshot")
    diff.add_argument("id", metavar="SNAPSHOT", help="snapshot id or name")
    diff.add_argument("id2", nargs="?", metavar="OTHER",
                      help="a later (or earlier) snapshot; default: now")
    diff.set_defaults(func=cmd_diff)
    sched = cmds.add_parser("schedule", help="snapshot schedules (cron, UTC) and retention")
    scmds = sched.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    slist = scmds.add_parser("list", help="list schedules")
    sset = scmds.add_parser("set", help="add or replace a schedule")
    sset.add_argument("name", metavar="SCHEDULE")
    sset.add_argument("cron", metavar="CRON", help="five fields, UTC, e.g. '0 * * * *'")
    for k in KEEP_OPTIONS:
        sset.add_argument("--" + k.replace("_", "-"), dest=k, type=int, metavar="N")
    sdel = scmds.add_parser("del", help="delete a schedule (its snapshots stay)")
    sdel.add_argument("name", metavar="SCHEDULE")
    for p in (slist, sset, sdel):
        p.set_defaults(func=cmd_schedule)
    for p in (create, listing, delete, lock, unlock, restore, diff, slist, sset, sdel):
        array_arguments(p)
