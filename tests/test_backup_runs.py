"""Backup runs under stress: rsync killed with SIGKILL mid-run and the daemon killed mid-run,
each then resumed by the next run to a complete generation; a writer rewriting files
during the backup (every file is copied whole, all from one moment)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import (
    add_folder_job,
    backup_nas,
    cli,
    make_tree,
    picture,
    run_job,
    slow_job,
    wait_finished,
    wait_running,
)
from tests.fuse_policy_util import PolicyMount
from tests.rewriter_util import FILES, Rewriter, one_moment


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
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    slow_job(nas, dest, big_files=6, bwlimit_kib=3000)
    nas.call("backup.run", {"name": "docs", "wait": False})
    wait_running(nas, "docs", min_bytes=3 << 20)
    pids = rsync_pids(dest)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    last = wait_finished(nas, "docs")
    assert last["result"] == "failed", last
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


def test_times_left_within_the_second_by_a_killed_run_are_set(nas: PolicyMount,
                                                               tmp_path: Path) -> None:
    """A symbolic link and a folder an interrupted run left with a time in the same second
    as their source's but other nanoseconds get the source's time: rsync compares times to
    the second unless told --modify-window=-1, and a killed run that made the link within
    a second of the test leaving it made that time exactly this (about one resumed run in
    six of the test above)."""
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    make_tree(docs)
    add_folder_job(nas, "docs", dest)
    source_link, source_dir = os.lstat(docs / "link-to-notes"), os.lstat(docs / "empty")
    left = dest / "docs" / ".incomplete-2026-01-01T000000Z"
    (left / "empty").mkdir(parents=True)
    os.symlink("notes.txt", left / "link-to-notes")
    for name, st in (("link-to-notes", source_link), ("empty", source_dir)):
        second = st.st_mtime_ns // 1_000_000_000 * 1_000_000_000
        other = second + (st.st_mtime_ns + 500_000_000) % 1_000_000_000
        assert other != st.st_mtime_ns
        os.utime(left / name, ns=(other, other), follow_symlinks=False)
    done = run_job(nas, "docs")
    gen = dest / "docs" / done["generation"]
    assert os.lstat(gen / "link-to-notes").st_mtime_ns == source_link.st_mtime_ns
    assert os.lstat(gen / "empty").st_mtime_ns == source_dir.st_mtime_ns
    assert picture(gen) == picture(docs)


def test_daemon_killed_mid_run_then_the_next_run_completes(nas: PolicyMount,
                                                          tmp_path: Path) -> None:
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    slow_job(nas, dest, big_files=4, bwlimit_kib=2000)
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
    # The dead run's snapshot was cleaned up by the next run; that run's own is kept as the
    # job's base (named by its manifest).
    head = json.loads((folder / f"{done['generation']}.manifest").read_text().split("\n", 1)[0])
    assert [s["name"] for s in nas.call("snapshot.list")
            if s["name"].startswith("backup-")] == [head["snapshot"]]


def test_a_backup_during_writes_copies_one_moment(nas: PolicyMount, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    assert cli(nas, "backup", "add", "docs", "--source", "docs", "--folder", str(dest),
               "--keep-last", "10").returncode == 0
    results = []
    with Rewriter(nas.mnt / "docs") as writer:
        for _ in range(3):
            before = writer.rounds
            results.append((json.loads(cli(nas, "--json", "backup", "run", "docs").stdout),
                            before))
    assert writer.rounds > 3, "the writer hardly ran"
    for result, before in results:
        assert result["result"] == "ok", result
        gen = dest / "docs" / result["generation"]
        one_moment([(gen / f"f{i}").read_bytes() for i in range(FILES)], gen.name, before)
    assert cli(nas, "backup", "verify", "docs").returncode == 0
