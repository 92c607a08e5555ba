"""Job results and counters through a real daemon, with mail to a real loopback SMTP server:
a scrub that repairs a damaged shard (counted per member in `status`, result mailed),
`scrub.cancel` of a running scrub, a capacity threshold mailed once per crossing, and
`nasfs mail test` as a real subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import test_cli_mount
import trio
from mail_util import Inbox, Running, daemon_running, members, run_dir, running, smtp, wait_until
from test_cli_mount import Env

from nasfs.client import DaemonError
from nasfs.config import Config
from nasfs.fs.snapshots import RESERVE_FRACTION
from nasfs.store.segments import list_segment_files

__all__ = ["members", "run_dir", "running", "smtp"]  # fixtures
env = test_cli_mount.env


async def use_server(running: Running, port: int) -> None:
    await running.settings(mail_host="127.0.0.1", mail_port=port, mail_starttls=False,
                           mail_to="admin@example.com", mail_enabled=True)


def damage_first_shard(member: Path) -> None:
    segment = sorted(list_segment_files(member).items())[0][1]
    with open(segment, "r+b") as f:
        data = f.read(64)
        f.seek(0)
        f.write(bytes(b ^ 0xFF for b in data))


async def test_scrub_repair_is_counted_and_mailed(running: Running, members: list[Path],
                                                  smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    before = await running.call(lambda c: c.status())
    assert [(m.read_errors, m.repaired, m.write_errors) for m in before.members] == \
        [(0, 0, 0)] * 3
    # Without a mounted filesystem there are no snapshot or trash figures to report.
    assert before.capacity.snapshot_held_bytes is None and before.capacity.trash_bytes is None
    damage_first_shard(members[0])
    result = await running.call(lambda c: c.scrub())
    assert result.report["repaired_shards"] >= 1
    status = await running.call(lambda c: c.status())
    assert status.members[0].repaired == result.report["repaired_shards"]
    assert status.members[1].repaired == status.members[2].repaired == 0
    message = await wait_until(lambda: inbox.find("Scrub finished"), "the scrub mail")
    assert "all data readable" in str(message["Subject"])
    assert f"repaired shards {result.report['repaired_shards']}" in message.get_content()


async def test_scrub_cancel_stops_a_running_scrub(running: Running) -> None:
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.scrub_cancel())
    assert info.value.code == "no_job"
    store_lock: threading.Lock = running.daemon.store.maintenance_lock
    # Holding the store's own maintenance lock keeps the scrub waiting at its start, so the
    # cancel lands while it runs, whatever the speed of this machine.
    assert store_lock.acquire(timeout=10)
    outcome: dict[str, Any] = {}

    async def scrub() -> None:
        try:
            outcome["result"] = await running.call(lambda c: c.scrub())
        except DaemonError as exc:
            outcome["error"] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(scrub)
        try:
            await wait_until(lambda: running.daemon.running_job == "scrub", "the scrub")
            await running.call(lambda c: c.scrub_cancel())
        finally:
            store_lock.release()
    assert "result" not in outcome
    assert outcome["error"].code == "scrub_cancelled"
    assert "--resume" in str(outcome["error"])
    status = await running.call(lambda c: c.status())
    assert status.running_job is None
    assert any(e.kind == "scrub-cancelled" for e in status.events)
    # The array is free for the next one, which runs to the end.
    result = await running.call(lambda c: c.scrub(resume=True))
    assert result.report["unrecoverable"] == []


async def test_capacity_threshold_mailed_once(running: Running,
                                              smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    status = await running.call(lambda c: c.status())
    cap = status.capacity
    percent = 100 * (cap.usable_bytes - cap.free_bytes) / cap.usable_bytes
    assert percent >= 2, "the test needs member directories on a file system in use"
    await running.settings(mail_capacity_percent="1")
    message = await wait_until(lambda: inbox.find("full (over 1 %)"), "the capacity mail")
    assert "mail.capacity_percent" in message.get_content()
    jobs = running.daemon.jobs.statistics()
    runs = jobs["array-watch"].runs
    await wait_until(lambda: jobs["array-watch"].runs >= runs + 2, "two more checks")
    assert sum("full" in s for s in inbox.subjects()) == 1


async def test_cli_mail_test(running: Running, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    env = dict(os.environ, NASFS_SOCKET=str(running.daemon.socket_path))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nasfs.cli.main", "mail", "test", *args],
                              env=env, capture_output=True, text=True, timeout=120,
                              check=False)

    done = await trio.to_thread.run_sync(cli, "--to", "boss@example.com")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "test mail sent to boss@example.com"
    assert inbox.recipients == [["boss@example.com"]]
    await running.settings(mail_host="")
    done = await trio.to_thread.run_sync(cli)
    assert done.returncode == 1
    assert done.stderr.strip() == "nasfs: no mail server is set; set mail.host (and " \
        "mail.port)"


def test_status_reports_snapshot_and_trash_bytes_when_mounted(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    status = env.status(mnt)
    cap = status["capacity"]
    assert cap["snapshot_reserve_bytes"] == int(cap["usable_bytes"] * RESERVE_FRACTION)
    assert cap["snapshot_held_bytes"] == 0 and cap["trash_bytes"] == 0
    assert [(m["read_errors"], m["repaired"], m["write_errors"])
            for m in status["members"]] == [(0, 0, 0)] * 3
    env.run("umount", mnt)
    offline = env.status("--array", *members)
    assert offline["capacity"]["trash_bytes"] is None
    assert offline["members"][0]["read_errors"] is None


async def test_degraded_at_start_then_rebuilt_is_mailed(
        run_dir: Path, members: list[Path], tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    # Mail is set up while the array is whole, then a disk goes missing before the start.
    async for daemon in daemon_running(Config(members=tuple(members), run_dir=run_dir)):
        await use_server(daemon, port)
    shutil.rmtree(members[2])
    async for daemon in daemon_running(Config(members=tuple(members), run_dir=run_dir),
                                       degraded=True):
        message = await wait_until(lambda: inbox.find("The array is degraded"),
                                   "the degraded mail at start")
        assert "Missing: disk 3." in message.get_content()
        assert "slot" not in message.get_content()
        (tmp_path / "new-disk").mkdir()  # the new disk's mount point
        result = await daemon.call(lambda c: c.rebuild(2, tmp_path / "new-disk"))
        assert result.report["unrecoverable"] == []
        done = await wait_until(lambda: inbox.find("Rebuild finished"), "the rebuild mail")
        assert "unrecoverable 0" in done.get_content()
        await wait_until(lambda: inbox.find("healthy again"), "the healthy-again mail")
    assert sum("degraded" in s for s in inbox.subjects()) == 1


async def test_the_same_notice_is_mailed_once_per_repeat_time(
        running: Running, members: list[Path], smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    damage_first_shard(members[0])
    for _ in range(2):
        # Without repair, each scrub reports the same damage again as a read error.
        result = await running.call(lambda c: c.scrub(repair=False))
        assert result.report["unrecoverable"]
    # Notices are sent in order: once this later one arrived, the earlier ones were handled.
    await running.settings(auth_max_failures=1)
    await running.policy(lambda p: p.auth_check("mallory", "guess", "tty7"))
    await wait_until(lambda: inbox.find("Login locked: tty7"), "the lock-out mails")
    subjects = inbox.subjects()
    assert sum("Read errors on disk 1" in s for s in subjects) == 1, subjects
    assert sum("Scrub finished: problems found" in s for s in subjects) == 1, subjects
    status = await running.call(lambda c: c.status())
    assert status.members[0].read_errors == 2 and status.members[0].repaired == 0
