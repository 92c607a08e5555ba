"""Snapshot schedules and retention with an injected clock, over a simulated year."""

from __future__ import annotations

import calendar
import time

import pytest

from nasfs.clock import ManualClock
from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem
from nasfs.snapshots.schedule import (
    InvalidSchedule,
    Retention,
    ScheduleNotFound,
    ScheduleRunner,
    delete_schedule,
    schedules,
    set_schedule,
    to_keep,
)
from nasfs.store import Store
from tests import fs_util

START = calendar.timegm((2025, 1, 1, 0, 0, 0))  # a Wednesday
HOUR = 3600
DAY = 24 * HOUR


# The four-member array and its store, by name (tests/fs_util.py).
members, store = fs_util.members, fs_util.store


def test_gfs_thinning_of_hourly_snapshots_over_a_year() -> None:
    rules = Retention(keep_hourly=24, keep_daily=7, keep_weekly=4, keep_monthly=12)
    kept: list[tuple[int, float]] = []
    sid = 0
    now = float(START)
    end = START + 365 * DAY
    while now < end:
        sid += 1
        kept.append((sid, now))
        keep = to_keep(kept, rules, now)
        kept = [k for k in kept if k[0] in keep]
        now += HOUR
    last = now - HOUR  # 2025-12-31 23:00
    times = sorted(t for _, t in kept)
    expected = {last - h * HOUR for h in range(24)}  # the last 24 hours
    expected |= {last - d * DAY for d in range(7)}  # 23:00 of the last 7 days
    # Newest of each of the last 4 ISO weeks: Sunday 23:00, and now (Wednesday).
    expected |= {last} | {calendar.timegm((2025, 12, 28 - 7 * w, 23, 0, 0)) for w in range(3)}
    # Newest of each of the 12 months: the last hour of each month.
    expected |= {calendar.timegm((2025, m + 1, 1, 0, 0, 0)) - HOUR for m in range(1, 12)}
    assert set(times) == expected
    assert len(times) == len(expected) <= 24 + 7 + 4 + 12


def test_keep_last_and_within() -> None:
    snaps = [(i, float(i * HOUR)) for i in range(10)]
    assert to_keep(snaps, Retention(keep_last=3), 10 * HOUR) == {7, 8, 9}
    assert to_keep(snaps, Retention(keep_within_s=2 * HOUR + 1), 9 * HOUR) == {7, 8, 9}
    assert to_keep(snaps, Retention(), 0) == set(range(10))  # no rule: keep all


async def test_a_schedule_runs_a_simulated_year(store: Store) -> None:
    fs = Filesystem.open(store)
    clock = ManualClock(START)
    fs.snapshots.clock = clock
    runner = ScheduleRunner(fs.snapshots, policy_state=lambda: '{"state": 1}')
    rules = Retention(keep_last=4, keep_daily=7, keep_weekly=4, keep_monthly=12)
    sched = await set_schedule(fs.snapshots, "six-hourly", "0 */6 * * *", rules)
    await fs.snapshots.create(name="manual")
    assert await runner.run_due() == ([], [])  # first sight: nothing for the past
    f = fs.create(ROOT_INODE, b"f", 0o644, ROOT_CALLER)
    taken_total = 0
    locked_id = None
    for tick in range(365 * 4):
        clock.advance(6 * HOUR)
        await fs.write(f.ino, 0, b"tick %d" % tick)
        taken, _ = await runner.run_due()
        assert len(taken) == 1
        taken_total += 1
        assert taken[0].policy_state == '{"state": 1}'
        assert taken[0].name == time.strftime("@GMT-%Y.%m.%d-%H.%M.%S",
                                              time.gmtime(clock.now()))
        if tick == 10:
            await fs.snapshots.set_locked(taken[0].id, True)
            locked_id = taken[0].id
        assert await runner.run_due() == ([], [])  # nothing more until the next fire time
    assert taken_total == 1460
    snaps = fs.snapshots.list(sizes=False)
    names = {s.name for s in snaps}
    assert "manual" in names and locked_id in {s.id for s in snaps}
    mine = sorted((s for s in snaps if s.schedule == sched.id and s.id != locked_id),
                  key=lambda s: s.created_ns)
    months = {time.gmtime(s.created_ns / 1e9)[:2] for s in mine}
    assert len(months) == 12
    assert len(mine) <= 4 + 7 + 4 + 12
    newest = [s.created_ns // 10**9 for s in mine[-4:]]
    assert newest == [int(clock.now()) - k * 6 * HOUR for k in (3, 2, 1, 0)]
    # Each snapshot still shows the file as it was at its tick.
    last = mine[-1]
    assert await fs.snapshot_view(last.id).read(f.ino, 0, 20) == b"tick 1459"

    # Missed runs (daemon down for three days) give one snapshot, not twelve.
    clock.advance(3 * DAY)
    taken, _ = await runner.run_due()
    assert len(taken) == 1
    await fs.close()


async def test_schedule_editing_and_errors(store: Store) -> None:
    fs = Filesystem.open(store)
    with pytest.raises(InvalidSchedule, match="cron"):
        await set_schedule(fs.snapshots, "bad", "every hour", Retention())
    with pytest.raises(InvalidSchedule, match="keep_daily"):
        await set_schedule(fs.snapshots, "bad", "0 * * * *", Retention(keep_daily=-1))
    await set_schedule(fs.snapshots, "h", "0 * * * *", Retention(keep_last=2))
    await set_schedule(fs.snapshots, "h", "30  3 * * *", Retention(keep_daily=5))
    (only,) = schedules(fs.snapshots)
    assert only.cron == "30 3 * * *" and only.retention == Retention(keep_daily=5)
    await delete_schedule(fs.snapshots, "h")
    with pytest.raises(ScheduleNotFound):
        await delete_schedule(fs.snapshots, "h")
    await fs.close()
