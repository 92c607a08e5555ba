"""Array lock and daemon records: exclusive ownership, holder named, stale state ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs import registry
from nasfs.registry import ArrayBusy, ArrayLock

HOLD_LOCK = """
import sys, time
from pathlib import Path
from nasfs import registry
lock = registry.ArrayLock.acquire(Path(sys.argv[1]), "arr", "nasfs daemon, mounted at /x")
registry.write_record(Path(sys.argv[1]), registry.new_record(
    "arr", Path(sys.argv[1]) / "arr.sock", Path(sys.argv[2]), [Path("/m1")]))
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of array "arr" and its record, until killed."""
    (tmp_path / "mnt").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "run"), str(tmp_path / "mnt")],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_lock_is_exclusive_and_names_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str],
) -> None:
    with pytest.raises(ArrayBusy) as info:
        ArrayLock.acquire(tmp_path / "run", "arr", "status", what="array arr")
    assert str(info.value) == (
        f"array arr is in use by pid {holder.pid} (nasfs daemon, mounted at /x)")
    assert registry.lock_holder(registry.lock_path(tmp_path / "run", "arr")) == (
        holder.pid, "nasfs daemon, mounted at /x")


def test_record_found_by_mountpoint_while_holder_lives(
    tmp_path: Path, holder: subprocess.Popen[str],
) -> None:
    run = tmp_path / "run"
    record = registry.find_by_mountpoint(run, tmp_path / "mnt")
    assert record is not None and record.pid == holder.pid and record.key == "arr"
    assert registry.find_by_mountpoint(run, tmp_path) is None
    # The same mount point through another spelling.
    (tmp_path / "link").symlink_to(tmp_path / "mnt")
    assert registry.find_by_mountpoint(run, tmp_path / "link") == record


def test_kill_9_leaves_nothing_that_blocks(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    run = tmp_path / "run"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert registry.read_record(run, "arr") is None  # the record file is stale now
    assert registry.live_records(run) == []
    with ArrayLock.acquire(run, "arr", "new daemon"):
        assert registry.lock_holder(registry.lock_path(run, "arr")) == (os.getpid(),
                                                                         "new daemon")
    assert registry.lock_holder(registry.lock_path(run, "arr")) is None


def test_probing_our_own_lock_does_not_drop_it(tmp_path: Path) -> None:
    # POSIX lockf() locks would vanish when any descriptor of the file is closed by the same
    # process; the daemon probes its own records, so this must hold.
    lock = ArrayLock.acquire(tmp_path, "k", "daemon")
    try:
        for _ in range(3):
            assert registry.lock_holder(registry.lock_path(tmp_path, "k")) is not None
        with pytest.raises(ArrayBusy):
            ArrayLock.acquire(tmp_path, "k", "second")
    finally:
        lock.release()
    ArrayLock.acquire(tmp_path, "k", "third").release()


def test_no_record_without_run_dir(tmp_path: Path) -> None:
    assert registry.live_records(tmp_path / "absent") == []
    assert registry.find_by_mountpoint(tmp_path / "absent", tmp_path) is None
