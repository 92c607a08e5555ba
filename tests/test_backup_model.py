"""Backup jobs as data: validation of every part, and retention over a simulated year."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from nasfs.backup.model import InvalidJob, Retention, job_from_json
from nasfs.backup.results import from_rclone, from_rsync
from nasfs.backup.retention import DAY_S, to_keep, to_remove
from nasfs.backup.runner import stamp, stamp_time

BASE = {"name": "docs-usb", "source": "docs/reports",
        "destination": {"kind": "usb", "uuid": "1234-ABCD"}}


def test_a_job_round_trips_through_json() -> None:
    job = job_from_json({**BASE, "schedule": "0  3 * * *", "retention": {"smart": True},
                         "options": {"exclude": ["*.tmp"], "bwlimit_kib": 500,
                                     "verify": True}})
    assert job.share == "docs" and job.folder == "reports"
    assert job.schedule == "0 3 * * *"
    assert job.destination.path == "nasfs-backup"
    again = job_from_json(job.to_json())
    assert again == job


@pytest.mark.parametrize(("change", "words"), [
    ({"name": "-bad"}, "job name"),
    ({"name": "a" * 65}, "job name"),
    ({"source": "docs/../etc"}, "bad part"),
    ({"source": "docs/#snapshot/x"}, "bad part"),
    ({"source": ""}, "share"),
    ({"destination": {"kind": "tape"}}, "kind"),
    ({"destination": {"kind": "usb", "uuid": "/dev/sdb1"}}, "UUID"),
    ({"destination": {"kind": "folder", "path": "relative"}}, "absolute"),
    ({"destination": {"kind": "ssh", "host": "nas2", "path": "/x", "port": 0}}, "port"),
    ({"destination": {"kind": "ssh", "host": "nas2 ; rm", "path": "/x"}}, "host"),
    ({"destination": {"kind": "ssh", "host": "nas2", "path": "x"}}, "absolute"),
    ({"destination": {"kind": "cloud", "remote": "S3!"}}, "rclone"),
    ({"schedule": "every day"}, "cron"),
    ({"retention": {"keep_last": 0}}, "1 to 256"),
    ({"retention": {"keep_last": 257}}, "1 to 256"),
    ({"retention": {"keep_last": 3, "smart": True}}, "not both"),
    ({"options": {"bwlimit_kib": -1}}, "bandwidth"),
    ({"options": {"colour": "red"}}, "unknown"),
    ({"options": {"exclude": ["a\nb"]}}, "line break"),
])
def test_bad_jobs_are_refused_with_the_field_named(change: dict[str, object],
                                                   words: str) -> None:
    with pytest.raises(InvalidJob, match=words):
        job_from_json({**BASE, **change})


def test_keep_last_keeps_the_newest_n() -> None:
    gens = [(f"g{i:03}", 1000.0 + i) for i in range(10)]
    assert to_remove(gens, Retention(keep_last=3), 2000.0) == [f"g{i:03}" for i in range(7)]
    assert to_keep([], Retention(keep_last=3), 0.0) == set()


def test_smart_retention_over_a_simulated_year_of_hourly_runs() -> None:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp()
    kept: list[tuple[str, float]] = []
    rule = Retention(smart=True)
    for hour in range(365 * 24):
        now = start + hour * 3600
        kept.append((stamp(now), now))
        removed = set(to_remove(kept, rule, now))
        assert kept[-1][0] not in removed  # the last good generation always stays
        kept = [g for g in kept if g[0] not in removed]
        assert len(kept) <= 256
    now = kept[-1][1]
    ages = [now - t for _, t in kept]
    # Every run of the last day.
    assert sum(1 for a in ages if a < DAY_S) == 24
    # One per day for the month before.
    days = {datetime.datetime.fromtimestamp(t, datetime.UTC).date()
            for _, t in kept if DAY_S <= now - t < 31 * DAY_S}
    per_day = [t for _, t in kept if DAY_S <= now - t < 31 * DAY_S]
    assert len(per_day) == len(days) >= 29
    # One per ISO week after: no week twice, no week of the year left out.
    older = [t for _, t in kept if now - t >= 31 * DAY_S]
    weeks = [datetime.datetime.fromtimestamp(t, datetime.UTC).isocalendar()[:2] for t in older]
    assert len(weeks) == len(set(weeks))
    assert len(weeks) >= 46
    # Names are stamps that read back as their time.
    assert all(stamp_time(name) == t for name, t in kept)


def test_exit_codes_map_to_clear_results() -> None:
    assert from_rsync(0, "").result == "ok"
    assert from_rsync(24, "file has vanished").result == "vanished"
    assert from_rsync(23, "rsync: some error").result == "partial"
    full = from_rsync(11, "rsync: write failed on \"x\": No space left on device (28)")
    assert full.result == "destination_full" and "full" in full.detail
    assert from_rsync(255, "ssh: connect to host x port 22: Connection refused").result == \
        "destination_missing"
    assert from_rsync(-9, "").result == "failed"
    assert from_rsync(3, "rsync: change_dir failed").result == "failed"
    assert from_rclone(0, "").result == "ok"
    assert from_rclone(7, "Error: quota exceeded").result == "destination_full"
    assert from_rclone(5, "connection refused").result == "destination_missing"
    assert from_rclone(6, "some files").result == "partial"


def test_a_job_is_overdue_after_two_missed_fire_times() -> None:
    from nasfs.backup.overdue import GRACE_S, overdue

    day = 86400.0
    added = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC).timestamp()
    daily = "0 2 * * *"  # fires 02:00 on 2 and 3 March after `added`
    second_fire = added + day + 14 * 3600
    assert not overdue(daily, None, added, added + day)  # one fire time missed: not yet
    assert not overdue(daily, None, added, second_fire + GRACE_S - 1)
    assert overdue(daily, None, added, second_fire + GRACE_S + 1)
    # A success resets the count.
    assert not overdue(daily, second_fire + 60, added, second_fire + GRACE_S + 1)


def test_the_disk_watch_tells_a_new_plug_from_a_late_event_of_the_old_one() -> None:
    """udev probes when it handles an event: a detach handled after the next attach carries
    the new disk's UUID but the old disk sequence number; only the attach is a plug."""
    from nasfs.backup.onetouch import DiskWatch

    plugged: list[str] = []
    watch = DiskWatch(plugged.append)
    watch.seen("change", "/dev/loop3", "U1", "10")  # plugged in
    watch.seen("change", "/dev/loop3", "U1", "10")  # re-probed after our own unmount
    assert plugged == ["U1"]
    watch.seen("change", "/dev/loop3", "U1", "10")  # the detach, handled late
    watch.seen("change", "/dev/loop3", "U1", "11")  # the same disk attached again
    assert plugged == ["U1", "U1"]
    watch.seen("change", "/dev/loop3", None, "12")  # detached, handled in time
    watch.seen("add", "/dev/loop3", "U1", None)  # a kernel without sequence numbers
    assert plugged == ["U1", "U1", "U1"]
    watch.seen("remove", "/dev/loop3", None, None)
    assert "/dev/loop3" not in watch.present


def test_a_disk_gone_under_a_run_is_plugged_again_on_its_next_appearance() -> None:
    from nasfs.backup.onetouch import DiskWatch

    plugged: list[str] = []
    watch = DiskWatch(plugged.append)
    watch.seen("change", "/dev/loop3", "U1", "10")
    watch.seen("change", "/dev/loop3", "U1", "12")  # a re-probe handled late: a "plug"
    watch.forget("u1")  # ... whose run found the disk gone
    watch.seen("change", "/dev/loop3", "U1", "12")  # the disk plugged in for real
    assert plugged == ["U1", "U1", "U1"]


def test_scheduled_verify_fires_once_per_fire_time_and_never_for_the_past() -> None:
    from nasfs.backup.verify_schedule import due

    fired: dict[str, float] = {}
    hourly = {"a": "0 * * * *", "b": None}
    t0 = 1_796_000_400.0  # 2026-11-30T01:00:00Z, on the hour
    assert due(hourly, fired, t0 + 10) == []  # first look: not for the past
    assert due(hourly, fired, t0 + 1800) == []
    assert due(hourly, fired, t0 + 3600 + 5) == ["a"]
    assert due(hourly, fired, t0 + 3600 + 50) == []  # once per fire time
    assert due(hourly, fired, t0 + 5 * 3600 + 1) == ["a"]  # missed ones: once, not four
    assert due({"a": None}, fired, t0 + 6 * 3600 + 1) == [] and "a" not in fired
    assert due(hourly, fired, t0 + 7 * 3600 + 1) == []  # set again: starts afresh


def test_a_verify_schedule_and_a_renamed_folder_round_trip() -> None:
    from nasfs.backup.model import InvalidJob, job_from_json

    body = {"name": "n", "source": "docs", "destination": {
        "kind": "folder", "path": "/b", "job_folder": "old"},
        "options": {"verify_schedule": "0 3 * * 0"}}
    job = job_from_json(body)
    assert job.key == "old" and job.options.verify_schedule == "0 3 * * 0"
    assert job_from_json(job.to_json()) == job
    plain = job_from_json({"name": "n", "source": "docs",
                           "destination": {"kind": "folder", "path": "/b"}})
    assert plain.key == "n" and "verify_schedule" not in plain.to_json()["options"]
    with pytest.raises(InvalidJob):
        job_from_json({**body, "options": {"verify_schedule": "soon"}})
    with pytest.raises(InvalidJob):
        job_from_json({**body, "destination": {"kind": "folder", "path": "/b",
                                               "job_folder": "../x"}})


def test_a_destinations_filesystem_type_is_the_mount_tables(tmp_path: Path) -> None:
    """What decides hard links and POSIX metadata for a folder destination: read from
    /proc/self/mounts, the same answer as findmnt gives (a folder deep inside a mount, the
    mount point itself, the root)."""
    import subprocess

    from nasfs.backup.runner import _fstype

    deep = tmp_path / "a b" / "c"
    deep.mkdir(parents=True)
    for path in (deep, Path("/proc/self"), Path("/")):
        want = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)],
                              capture_output=True, text=True, check=True).stdout.split()[0]
        assert _fstype(path) == want, path
