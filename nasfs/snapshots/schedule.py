"""Snapshot schedules: cron expressions (UTC) with retention by count, by age and GFS thinning.

A schedule fires at the times its five-field cron expression names, evaluated in UTC. The
daemon's periodic job calls `ScheduleRunner.run_due()`; a run takes one snapshot when a fire
time has passed since the last run (runs missed while the daemon was down are not replayed:
one snapshot stands for all of them), then applies the schedule's retention to the
snapshots it took. A schedule first seen does not fire for times before it was seen.

Retention keeps a snapshot when any rule keeps it (like borg/restic `--keep-*`): the newest
`keep_last`; those younger than `keep_within_s`; and, going from the newest back, the newest
snapshot of each of the last `keep_hourly` hours, `keep_daily` days, `keep_weekly` ISO weeks
and `keep_monthly` months that have one. Locked snapshots and snapshots not taken by the
schedule are never removed by it. A schedule with no rule at all keeps everything (up to the
volume's limit of 256).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasfs.cron import InvalidSchedule, check_cron, previous_fire
from nasfs.errors import NasfsError
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.clock import Clock
    from nasfs.fs.snapshots import SnapshotInfo, SnapshotManager

log = logging.getLogger(__name__)

KEEP_FIELDS = ("keep_last", "keep_within_s", "keep_hourly", "keep_daily", "keep_weekly",
               "keep_monthly")


class ScheduleNotFound(NasfsError):
    """No schedule with this name."""

    wire_code = codes.SCHEDULE_NOT_FOUND


@dataclass(frozen=True)
class Retention:
    keep_last: int | None = None
    keep_within_s: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None

    def as_tuple(self) -> tuple[int | None, ...]:
        return tuple(getattr(self, f) for f in KEEP_FIELDS)

    def is_empty(self) -> bool:
        return not any(self.as_tuple())


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    cron: str
    retention: Retention
    last_run_ns: int | None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "name": self.name, "cron": self.cron,
                                "last_run_ns": self.last_run_ns}
        body.update({f: getattr(self.retention, f) for f in KEEP_FIELDS})
        return body


def check_retention(retention: Retention) -> Retention:
    for f in KEEP_FIELDS:
        value = getattr(retention, f)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise InvalidSchedule(f"{f} must be a whole number of 0 or more, not {value!r}")
    return retention


def _bucket_keys(seconds: float) -> dict[str, tuple[int, ...]]:
    t = time.gmtime(seconds)
    iso = datetime.date(t.tm_year, t.tm_mon, t.tm_mday).isocalendar()
    return {
        "keep_hourly": (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour),
        "keep_daily": (t.tm_year, t.tm_mon, t.tm_mday),
        "keep_weekly": (iso[0], iso[1]),
        "keep_monthly": (t.tm_year, t.tm_mon),
    }


def to_keep(snapshots: Sequence[tuple[int, float]], retention: Retention,
            now_s: float) -> set[int]:
    """Ids (of (id, created seconds) pairs) that `retention` keeps; see module docstring."""
    if retention.is_empty():
        return {sid for sid, _ in snapshots}
    newest_first = sorted(snapshots, key=lambda s: s[1], reverse=True)
    keep: set[int] = set()
    if retention.keep_last:
        keep.update(sid for sid, _ in newest_first[: retention.keep_last])
    if retention.keep_within_s:
        keep.update(sid for sid, t in newest_first if now_s - t < retention.keep_within_s)
    for rule in ("keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"):
        count = getattr(retention, rule)
        if not count:
            continue
        seen: set[tuple[int, ...]] = set()
        for sid, t in newest_first:
            key = _bucket_keys(t)[rule]
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.add(key)
            keep.add(sid)
    return keep


def schedules(manager: SnapshotManager) -> list[Schedule]:
    return [
        Schedule(int(r[0]), str(r[1]), str(r[2]),
                 Retention(*(None if v is None else int(v) for v in r[3:9])),
                 None if r[9] is None else int(r[9]))
        for r in manager.repo.schedule_rows()
    ]


async def set_schedule(manager: SnapshotManager, name: str, cron: str,
                       retention: Retention) -> Schedule:
    """Add or replace a schedule (committed durably)."""
    if not name or len(name) > 64:
        raise InvalidSchedule("a schedule name is 1 to 64 characters")
    cron = check_cron(cron)
    check_retention(retention)
    manager.repo.upsert_schedule(name, cron, retention.as_tuple())
    await manager.fs.commit()
    return next(s for s in schedules(manager) if s.name == name)


async def delete_schedule(manager: SnapshotManager, name: str) -> None:
    """Forget a schedule; the snapshots it took stay (as manual ones would)."""
    if not manager.repo.delete_schedule(name):
        raise ScheduleNotFound(f"there is no snapshot schedule named {name!r}")
    await manager.fs.commit()


class ScheduleRunner:
    """Runs the schedules of one volume against a clock (`run_due` per daemon tick)."""

    def __init__(self, manager: SnapshotManager, clock: Clock | None = None,
                 policy_state: Callable[[], str | None] = lambda: None) -> None:
        self.manager = manager
        self.clock = clock or manager.clock
        self.policy_state = policy_state

    async def run_due(self) -> tuple[list[SnapshotInfo], list[SnapshotInfo]]:
        """Take the snapshots that are due and thin out; returns (taken, removed)."""
        taken: list[SnapshotInfo] = []
        removed: list[SnapshotInfo] = []
        for sched in schedules(self.manager):
            now_s = self.clock.now()
            latest = previous_fire(sched.cron, now_s)
            if sched.last_run_ns is None:
                # First sight: start from now, do not fire for the past.
                self.manager.repo.set_schedule_run(sched.id, int(latest * 1e9))
                await self.manager.fs.commit()
                continue
            if latest * 1e9 <= sched.last_run_ns:
                continue
            info = await self.manager.create(policy_state=self.policy_state(),
                                             schedule=sched.id)
            taken.append(info)
            self.manager.repo.set_schedule_run(sched.id, int(latest * 1e9))
            removed += await self.thin(sched, now_s)
        return taken, removed

    async def thin(self, sched: Schedule, now_s: float) -> list[SnapshotInfo]:
        mine = [s for s in self.manager.list(sizes=False) if s.schedule == sched.id]
        keep = to_keep([(s.id, s.created_ns / 1e9) for s in mine], sched.retention, now_s)
        removed = []
        for s in mine:
            if s.id not in keep and not s.locked:
                removed.append(await self.manager.delete(s.id))
        if not removed:
            await self.manager.fs.commit()  # the schedule's last_run
        return removed
