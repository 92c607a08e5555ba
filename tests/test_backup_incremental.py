"""The incremental copy (nasfs.backup.incremental) through a real daemon to a folder on this
box: a second run made from the previous generation and the snapshot diff, byte-exact with
modes, owners, times and xattrs; changed files as new inodes and the older generation left
as it was; rsync killed mid-run and the next run completing it; the full copy whenever a
precondition fails (the base snapshot gone, a filter)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backup_util import (
    add_folder_job,
    backup_nas,
    cli,
    make_tree,
    picture,
    run_job,
    wait_finished,
    wait_running,
)
from tests.fuse_policy_util import PolicyMount
from tests.test_backup_runs import rsync_pids


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def inodes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = os.lstat(p).st_ino
    return out


def change_the_tree(docs: Path) -> None:
    """Content changed, a mode changed (content and time kept), an xattr added, files and a
    folder removed and added, a symbolic link pointed elsewhere."""
    (docs / "reports" / "2026" / "plan.bin").write_bytes(os.urandom(200_000))
    os.chmod(docs / "notes.txt", 0o600)
    os.setxattr(docs / "reports" / "q1.txt", "user.state", b"final")
    os.unlink(docs / "q1-again.txt")
    os.rmdir(docs / "empty")
    (docs / "new" / "deeper").mkdir(parents=True)
    (docs / "new" / "deeper" / "a.txt").write_text("a new file\n")
    os.utime(docs / "new" / "deeper" / "a.txt", ns=(1_600_000_000_000_000_001,) * 2)
    os.unlink(docs / "link-to-notes")
    os.symlink("reports/q1.txt", docs / "link-to-notes")


def last_detail(nas: PolicyMount) -> str:
    return str(nas.call("backup.status", {"name": "docs"})[0]["last_run"]["detail"])


def test_a_second_run_is_made_from_the_previous_generation_and_the_diff(
        nas: PolicyMount, tmp_path: Path) -> None:
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    make_tree(docs)
    add_folder_job(nas, "docs", dest, "--keep-last", "5")
    first = run_job(nas, "docs")
    assert "full copy: no previous generation" in first["detail"]
    gen1 = dest / "docs" / first["generation"]
    before, before_inodes = picture(gen1), inodes(gen1)
    # The run's snapshot is kept as the job's base, unlocked (it counts as any snapshot).
    bases = [s for s in nas.call("snapshot.list") if s["name"].startswith("backup-docs-")]
    assert len(bases) == 1 and not bases[0]["locked"]

    unchanged = run_job(nas, "docs")
    assert "incremental: 0 added, 0 changed, 0 removed" in unchanged["detail"], unchanged
    gen2 = dest / "docs" / unchanged["generation"]
    assert picture(gen2) == picture(docs)
    assert inodes(gen2) == before_inodes  # every file a hard link of the first's
    assert unchanged["sent_bytes"] == 0

    change_the_tree(docs)
    changed = run_job(nas, "docs")
    assert "incremental:" in changed["detail"] and "0 changed" not in changed["detail"]
    gen3 = dest / "docs" / changed["generation"]
    assert picture(gen3) == picture(docs)
    assert picture(gen1) == before  # the older generations are as they were
    assert picture(gen2) == before
    after = inodes(gen3)
    for path in ("reports/2026/plan.bin", "notes.txt", "reports/q1.txt", "link-to-notes"):
        assert after[path] != before_inodes[path], path  # new inodes, never changed in place
    assert after["reports/q1.txt"] != before_inodes["q1-again.txt"]
    # The manifest is the previous one with the copied files' digests: verify agrees.
    assert cli(nas, "backup", "verify", "docs").returncode == 0
    files = {e["path"] for e in nas.call("backup.generations",
                                         {"name": "docs", "generation": changed["generation"]})}
    assert files == {"reports/q1.txt", "reports/2026/plan.bin", "notes.txt",
                     "new/deeper/a.txt"}
    # One base left: this run's.
    bases = [s["name"] for s in nas.call("snapshot.list") if s["name"].startswith("backup-")]
    head = json.loads((dest / "docs" / f"{changed['generation']}.manifest").read_text()
                      .split("\n", 1)[0])
    assert bases == [head["snapshot"]]


def test_the_full_copy_runs_when_the_base_is_gone_or_a_filter_is_set(
        nas: PolicyMount, tmp_path: Path) -> None:
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    make_tree(docs)
    add_folder_job(nas, "docs", dest)
    run_job(nas, "docs")
    base = next(s["name"] for s in nas.call("snapshot.list")
                if s["name"].startswith("backup-docs-"))
    assert cli(nas, "snapshot", "delete", base).returncode == 0
    (docs / "notes.txt").write_text("changed while the base was gone\n")
    again = run_job(nas, "docs")
    assert "full copy: the base snapshot is gone" in again["detail"], again
    assert picture(dest / "docs" / again["generation"]) == picture(docs)
    assert cli(nas, "backup", "edit", "docs", "--exclude", "*.bin").returncode == 0
    filtered = run_job(nas, "docs")
    assert "full copy: the job's source, filters or metadata changed" in filtered["detail"]
    gen = dest / "docs" / filtered["generation"]
    assert not (gen / "reports" / "2026" / "plan.bin").exists()
    assert (gen / "notes.txt").read_text() == "changed while the base was gone\n"


def test_an_incremental_run_killed_mid_copy_is_completed_by_the_next(
        nas: PolicyMount, tmp_path: Path) -> None:
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    make_tree(docs)
    for i in range(4):
        (docs / f"big{i}.bin").write_bytes(os.urandom(2 << 20))
    add_folder_job(nas, "docs", dest, "--keep-last", "5")
    first = run_job(nas, "docs")
    gen1 = dest / "docs" / first["generation"]
    before, before_inodes = picture(gen1), inodes(gen1)

    change_the_tree(docs)
    for i in range(4):  # enough new content for the copy to be caught halfway
        (docs / f"big{i}.bin").write_bytes(os.urandom(2 << 20))
    os.unlink(docs / "big3.bin")
    (docs / "big-new.bin").write_bytes(os.urandom(2 << 20))
    assert cli(nas, "backup", "edit", "docs", "--bwlimit", "2000").returncode == 0
    nas.call("backup.run", {"name": "docs", "wait": False})
    wait_running(nas, "docs", min_bytes=1 << 20)
    for pid in rsync_pids(dest):
        os.kill(pid, signal.SIGKILL)
    killed: dict[str, Any] = wait_finished(nas, "docs")
    assert killed["result"] == "failed" and "killed" in killed["detail"], killed
    pending = [n for n in os.listdir(dest / "docs") if n.startswith(".incomplete-")
               and not n.endswith(".paths")]
    assert len(pending) == 1
    assert (dest / "docs" / f"{pending[0]}.paths").exists()

    # Changed again before the next run: the folder the killed run had added is gone again
    # (the next diff does not name it: neither the base nor the new snapshot has it), and
    # one more change.
    shutil.rmtree(docs / "new")
    (docs / "notes.txt").write_text("one more change\n")
    assert cli(nas, "backup", "edit", "docs", "--bwlimit", "0").returncode == 0
    done = run_job(nas, "docs")
    assert "incremental:" in done["detail"], done
    gen2 = dest / "docs" / done["generation"]
    assert picture(gen2) == picture(docs)
    assert picture(gen1) == before
    after = inodes(gen2)
    for i in range(3):
        assert after[f"big{i}.bin"] != before_inodes[f"big{i}.bin"]
    assert after["notes.txt"] != before_inodes["notes.txt"]
    assert sorted(os.listdir(dest / "docs")) == sorted(
        [first["generation"], first["generation"] + ".manifest",
         done["generation"], done["generation"] + ".manifest"])
    assert cli(nas, "backup", "verify", "docs").returncode == 0


def test_a_cancelled_link_copy_stops_and_the_walk_completes_it(tmp_path: Path) -> None:
    """cp -al is killed when the run is cancelled (InterruptedError, which the runner
    reports as `cancelled`), and the next run's walk completes what it left."""
    from nasfs.backup import incremental

    previous, work = tmp_path / "previous", tmp_path / "work"
    for d in range(20):
        (previous / f"d{d:02}").mkdir(parents=True)
        for i in range(50):
            (previous / f"d{d:02}" / f"f{i:02}").write_bytes(b"x")
    with pytest.raises(InterruptedError):
        incremental.link_copy(previous, work, lambda: True)
    incremental.link_copy(previous, work, lambda: False)
    assert inodes(work) == inodes(previous)
