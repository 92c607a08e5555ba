"""The daemon over a real array without a mount: status, jobs with progress, umount, lock.

The daemon runs in the test's trio loop; the client is the real typed Client in a worker
thread, talking over the real control socket. Mounted round trips are in test_cli_mount.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import trio

from nasfs import registry
from nasfs.client import DaemonError, JobProgress
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
from nasfs.registry import ArrayBusy
from tests.daemon_util import Running, members, run_dir, running, start_daemon

__all__ = ["members", "run_dir", "running"]  # fixtures


@pytest.fixture
def config(run_dir: Path, members: list[Path]) -> Config:
    return Config(members=tuple(members), run_dir=run_dir)


async def test_status_through_the_daemon(running: Running, members: list[Path]) -> None:
    status = await running.call(lambda c: c.status())
    assert status.source == "daemon"
    assert status.state == "healthy"
    assert status.daemon_pid == os.getpid()
    assert status.mounted is False and status.mountpoint is None
    assert [m.path for m in status.members] == [str(m) for m in members]
    assert status.capacity.used_bytes == 8 * 100_000
    assert status.capacity.usable_bytes == status.capacity.raw_bytes * 2 // 3
    assert status.uptime_s is not None and status.uptime_s >= 0
    assert any(e.kind == "started" for e in status.events)


async def test_scrub_streams_progress(running: Running) -> None:
    seen: list[JobProgress] = []
    result = await running.call(lambda c: c.scrub(on_progress=seen.append))
    assert result.method == "scrub"
    assert result.report["bytes_read"] > 0
    assert result.report["unrecoverable"] == []
    # The store throttles reports, but always sends the final one.
    assert seen and seen[-1].done_bytes == seen[-1].total_bytes


async def test_degraded_then_rebuilt(config: Config, members: list[Path],
                                     tmp_path: Path) -> None:
    shutil.rmtree(members[2])
    async with trio.open_nursery() as nursery:
        runner = await start_daemon(nursery, config, degraded=True)
        status = await runner.call(lambda c: c.status())
        assert status.state == "degraded" and status.missing == [2]
        assert any(e.kind == "member-missing" for e in status.events)
        seen: list[JobProgress] = []
        (tmp_path / "new-disk").mkdir()  # the new disk's mount point
        result = await runner.call(
            lambda c: c.rebuild(2, tmp_path / "new-disk", on_progress=seen.append))
        assert result.report["member"] == 2 and result.report["unrecoverable"] == []
        assert seen
        status = await runner.call(lambda c: c.status())
        assert status.state == "healthy"
        assert status.members[2].path == str(tmp_path / "new-disk")
        runner.daemon.request_shutdown("test finished")


async def test_rebuild_bad_params_and_refusal(running: Running, tmp_path: Path) -> None:
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.call("rebuild", {"member": "2"}))
    assert info.value.code == "bad_params"
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.rebuild(1, tmp_path / "x"))
    # RebuildArgumentError: member 1 is not missing; bad arguments, so exit code 2.
    assert info.value.code == "rebuild_argument" and info.value.exit_code == 2
    assert "disk 2 is present" in str(info.value)


async def test_flush_needs_a_mount(running: Running) -> None:
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.flush())
    assert info.value.code == "not_mounted"


async def test_methods_lists_the_table(running: Running) -> None:
    names = await running.call(lambda c: c.methods())
    assert {"status", "flush", "umount", "scrub", "rebuild", "methods"} <= set(names)


async def test_second_daemon_on_the_same_array_is_refused(
    running: Running, config: Config,
) -> None:
    second = Daemon(DaemonOptions(config, mountpoint=None))
    with pytest.raises(ArrayBusy, match=rf"in use by pid {os.getpid()} \(nasfs daemon"):
        await second.run()


async def test_umount_method_stops_the_daemon(running: Running, config: Config) -> None:
    daemon = running.daemon
    assert daemon.array_uuid is not None
    key = daemon.array_uuid
    assert registry.read_record(config.run_dir, key) is not None
    assert await running.call(lambda c: c.umount()) is None
    await running.finished.wait()
    assert not daemon.socket_path.exists()  # type: ignore[union-attr]
    assert registry.read_record(config.run_dir, key) is None
    assert registry.lock_holder(registry.lock_path(config.run_dir, key)) is None
    # The array can be owned again at once.
    registry.ArrayLock.acquire(config.run_dir, key, "test").release()
