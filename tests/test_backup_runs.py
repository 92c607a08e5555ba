"""Backup runs under stress: rsync killed with SIGKILL mid-run and the daemon killed mid-run,
each then resumed by the next run to a complete generation; a writer rewriting files
during the backup (every file is copied whole, all from one moment)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import backup_nas, cli, make_tree, picture, wait_running
from tests.fuse_policy_util import PolicyMount

FILES = 8
SIZE = 256 << 10


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def rsync_pids(dest: Path) -> list[int]:
    """The rsync processes writing into `dest` (all of them: sender, receiver, generator)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"rsync") and any(str(dest).encode() in a for a in argv):
            pids.append(int(entry))
    return pids


def test_rsync_killed_mid_run_resumes_to_a_complete_generation(nas: PolicyMount,
                                                              tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    for i in range(6):
        (docs / f"big{i}.bin").write_bytes(os.urandom(2 << 20))
    dest = tmp_path / "dest"
    dest.mkdir()
    assert cli(nas, "backup", "add", "docs", "--source", "docs", "--folder", str(dest),
               "--bwlimit", "3000").returncode == 0
    nas.call("backup.run", {"name": "docs", "wait": False})
    wait_running(nas, "docs", min_bytes=3 << 20)
    pids = rsync_pids(dest)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    last = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        s = nas.call("backup.status", {"name": "docs"})[0]
        if not s["running"] and s["last_run"]:
            last = s["last_run"]
            break
        time.sleep(0.1)
    assert last is not None and last["result"] == "failed", last
    assert "killed" in last["detail"]
    folder = dest / "docs"
    pending = [n for n in os.listdir(folder) if n.startswith(".incomplete-")]
    assert len(pending) == 1
    copied_before = sum(f.stat().st_size for f in (folder / pending[0]).rglob("*.bin"))
    assert copied_before > 0  # the kill really was mid-run
    assert not [n for n in os.listdir(folder) if not n.startswith(".")]

    assert cli(nas, "backup", "edit", "docs", "--bwlimit", "0").returncode == 0
    done = json.loads(cli(nas, "--json", "backup", "run", "docs").stdout)
    assert done["result"] == "ok", done
    assert sorted(os.listdir(folder)) == [done["generation"], done["generation"] + ".manifest"]
    assert picture(folder / done["generation"]) == picture(docs)
    # What was there already was not copied again.
    assert done["sent_bytes"] < done["bytes"]
    assert cli(nas, "backup", "verify", "docs").returncode == 0


def test_daemon_killed_mid_run_then_the_next_run_completes(nas: PolicyMount,
                                                          tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    for i in range(4):
        (docs / f"big{i}.bin").write_bytes(os.urandom(2 << 20))
    dest = tmp_path / "dest"
    dest.mkdir()
    assert cli(nas, "backup", "add", "docs", "--source", "docs", "--folder", str(dest),
               "--bwlimit", "2000").returncode == 0
    want = picture(docs)
    nas.call("backup.run", {"name": "docs", "wait": False})
    wait_running(nas, "docs", min_bytes=1 << 20)
    assert nas.proc is not None
    nas.proc.kill()
    nas.proc.wait()
    nas.proc = None
    for pid in rsync_pids(dest):
        os.kill(pid, signal.SIGKILL)
    nas.start()
    status = json.loads(cli(nas, "--json", "backup", "status", "docs").stdout)[0]
    # The run the dead daemon left is marked interrupted by the new one's first tick.
    assert status["last_run"]["result"] in ("running", "interrupted")
    assert cli(nas, "backup", "edit", "docs", "--bwlimit", "0").returncode == 0
    done = json.loads(cli(nas, "--json", "backup", "run", "docs").stdout)
    assert done["result"] == "ok", done
    folder = dest / "docs"
    assert sorted(os.listdir(folder)) == [done["generation"], done["generation"] + ".manifest"]
    assert picture(folder / done["generation"]) == want
    runs = nas.call("backup.status", {"name": "docs"})
    assert runs[0]["last_success"]["generation"] == done["generation"]
    # The dead run's snapshot was cleaned up by the next run.
    assert not [s for s in nas.call("snapshot.list") if s["name"].startswith("backup-")]


def content(round_: int, index: int) -> bytes:
    return struct.pack("<II", round_, index) * (SIZE // 8)


def test_a_backup_during_writes_copies_one_moment(nas: PolicyMount, tmp_path: Path) -> None:
    d = nas.mnt / "docs"
    fds = []
    for i in range(FILES):
        fd = os.open(d / f"f{i}", os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, content(0, i), 0)
        fds.append(fd)
    stop = threading.Event()
    rounds = [0]

    def writer() -> None:
        r = 0
        while not stop.is_set():
            r += 1
            for i, fd in enumerate(fds):
                os.pwrite(fd, content(r, i), 0)  # in place: the same inode, new data
            rounds[0] = r

    dest = tmp_path / "dest"
    dest.mkdir()
    assert cli(nas, "backup", "add", "docs", "--source", "docs", "--folder", str(dest),
               "--keep-last", "10").returncode == 0
    thread = threading.Thread(target=writer)
    thread.start()
    results = []
    try:
        for _ in range(3):
            before = rounds[0]
            results.append((json.loads(cli(nas, "--json", "backup", "run", "docs").stdout),
                            before))
    finally:
        stop.set()
        thread.join()
        for fd in fds:
            os.close(fd)
    assert rounds[0] > 3, "the writer hardly ran"
    seen = []
    for result, before in results:
        assert result["result"] == "ok", result
        gen = dest / "docs" / result["generation"]
        per_file = []
        for i in range(FILES):
            data = (gen / f"f{i}").read_bytes()
            r, idx = struct.unpack("<II", data[:8])
            assert idx == i and data == content(r, i), f"f{i} is torn in {gen.name}"
            per_file.append(r)
        # One moment: the writer goes f0..f7 each round.
        assert all(a >= b for a, b in itertools.pairwise(per_file))
        assert per_file[0] - per_file[-1] <= 1, per_file
        assert per_file[-1] >= before
        seen.append(tuple(per_file))
    assert cli(nas, "backup", "verify", "docs").returncode == 0
