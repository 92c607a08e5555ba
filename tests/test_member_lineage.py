"""Split halves and members rolled back in time are refused, on real mounts.

- Split: parts of the array mounted apart and written, then given together → refused with
  a message naming both sides; scrub refuses too; `choose-side` in the recovery shell keeps
  one side, the other side's disks are stale until emptied and rebuilt; the losing side is
  never read or written before it is emptied.
- Rollback: a member directory copied away, the array written on, the copy put back →
  refused as behind (after a clean unmount and after SIGKILL), never read as current.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, MountedArray

NASFS = [sys.executable, "-m", "nasfs.cli.main"]


def nasfs(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NASFS_RUN_DIR=str(tmp_path / "run"),
               NASFS_LOG_DIR=str(tmp_path / "log"))
    return subprocess.run([*NASFS, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300, check=False, cwd=REPO)


def fingerprint(member: Path) -> dict[str, str]:
    """Every file under a member with its content hash: proves nothing touched it.

    Leaves out SQLite's `-shm` files: a read-only look at a catalog copy's generation
    (to find the newest copy) rebuilds that shared-memory index of the WAL; it holds no
    data and SQLite rebuilds it whenever it is opened."""
    return {str(p.relative_to(member)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(member.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def write_files(mnt: Path, prefix: str, count: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        name = f"{prefix}{i}"
        data = rng.randbytes(rng.choice((4000, 300_000, 1_500_000)))
        with open(mnt / name, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        files[name] = data
    return files


def refused(array: MountedArray, members: list[Path], text: str) -> str:
    """Mount `members`; assert the mount process refuses with `text` in its one line."""
    array.members = members
    proc = array.start()
    rc = proc.wait(timeout=120)
    assert rc != 0, array.log()
    assert not os.path.ismount(array.mountpoint)
    last = array.log().strip().splitlines()[-1]
    assert text in last, last
    return last


def mount(array: MountedArray, members: list[Path]) -> Path:
    array.members = members
    return array.mount()


Split = tuple[list[Path], list[Path], dict[str, bytes], dict[str, bytes]]


def split_p2(array: MountedArray) -> Split:
    """Disks 1+2 mounted alone and written, then disks 3+4 alone and written.

    Returns the disks given together, the disks of side 1, side 1's and side 2's files."""
    every = list(array.members)
    mnt = array.mount()
    base = write_files(mnt, "base", 3, 1)
    array.unmount()
    mount(array, every[:2])
    left = write_files(mnt, "left", 4, 2)
    array.unmount()
    mount(array, every[2:])
    right = write_files(mnt, "right", 4, 3)
    array.unmount()
    return every, every[:2], base | left, base | right


def split_p1(array: MountedArray, tmp_path: Path) -> Split:
    """p=1: a clone of every disk made while the array was idle; disks 1-3 of the original
    and disks 2-4 of the clone each mounted and written; then disks 1, 2 of the original
    and 3, 4 of the clone given together."""
    every = list(array.members)
    mnt = array.mount()
    base = write_files(mnt, "base", 3, 1)
    array.unmount()
    clone = [tmp_path / f"clone{i}" for i in range(4)]
    for src, dst in zip(every, clone, strict=True):
        shutil.copytree(src, dst, symlinks=True)
    mount(array, every[:3])
    left = write_files(mnt, "left", 4, 2)
    array.unmount()
    mount(array, clone[1:])
    right = write_files(mnt, "right", 4, 3)
    array.unmount()
    return [every[0], every[1], clone[2], clone[3]], every[:3], base | left, base | right


@pytest.mark.parametrize("nparity", [1, 2])
def test_split_halves_are_refused_until_one_side_is_chosen(tmp_path: Path,
                                                           nparity: int) -> None:
    array = MountedArray(tmp_path, members=4, nparity=nparity)
    try:
        if nparity == 2:
            given, side1, left, right = split_p2(array)
        else:
            given, side1, left, right = split_p1(array, tmp_path)
        before = {str(m): fingerprint(m) for m in given}

        line = refused(array, given, "was split")
        assert "disks 1 and 2" in line and "disks 3 and 4" in line and "choose-side" in line
        scrub = nasfs(tmp_path, "scrub", "--array", *given)
        assert scrub.returncode != 0 and "was split" in scrub.stderr, scrub.stderr
        status = nasfs(tmp_path, "recovery", "--array", *given, "--run", "status")
        assert "split" in status.stdout and "side 2" in status.stdout, status.stdout
        assert {str(m): fingerprint(m) for m in given} == before  # nothing read into use

        chose = nasfs(tmp_path, "recovery", "--array", *given, "--run", "choose-side 1")
        assert chose.returncode == 0, chose.stderr
        assert "kept disks 1 and 2" in chose.stdout
        losers = given[2:]
        for m in losers:  # the losing side is never written, not even its label
            assert fingerprint(m) == before[str(m)]
        refused(array, given, "stale")

        # The chosen side mounts (degraded) with its own files and none of the other's.
        mnt = mount(array, side1)
        for name, data in left.items():
            assert (mnt / name).read_bytes() == data
        assert not any((mnt / name).exists() for name in right if name.startswith("right"))
        array.unmount()
        for m in losers:
            assert fingerprint(m) == before[str(m)]
            shutil.rmtree(m / "nasfs")
        whole = list(side1)
        for i, m in enumerate(losers, 2):
            if i < len(side1):
                continue  # p=1: the chosen side still has this slot (original disk 3)
            done = nasfs(tmp_path, "rebuild", "--array", *whole, "--disk", str(i + 1),
                         "--onto", m)
            assert done.returncode == 0, done.stderr
            whole.append(m)
        mnt = mount(array, whole)
        for name, data in left.items():
            assert (mnt / name).read_bytes() == data
        array.unmount()
        scrub = nasfs(tmp_path, "scrub", "--array", *whole)
        assert scrub.returncode == 0 and "repaired shards 0" in scrub.stdout, scrub.stdout
    finally:
        array.cleanup()


@pytest.mark.parametrize(("nparity", "ending"), [(1, "unmount"), (1, "kill"),
                                                 (2, "unmount"), (2, "kill")])
def test_member_put_back_from_an_old_copy_is_stale(tmp_path: Path, nparity: int,
                                                   ending: str) -> None:
    array = MountedArray(tmp_path, members=4, nparity=nparity)
    try:
        every = list(array.members)
        mnt = array.mount()
        files = write_files(mnt, "old", 4, 4)
        victim = every[1]
        shutil.copytree(victim, tmp_path / "copy", symlinks=True)  # while mounted
        files |= write_files(mnt, "new", 13, 5)
        if ending == "kill":
            array.kill()
        else:
            array.unmount()
        shutil.rmtree(victim)
        os.rename(tmp_path / "copy", victim)
        before = fingerprint(victim)

        line = refused(array, every, "behind the rest of the array")
        assert "disk 2" in line and str(victim) in line
        assert fingerprint(victim) == before
        scrub = nasfs(tmp_path, "scrub", "--array", *every)
        assert scrub.returncode != 0 and "behind" in scrub.stderr, scrub.stderr
        assert fingerprint(victim) == before

        # Without it the array is whole (degraded) and every file reads back.
        others = [m for m in every if m != victim]
        mnt = mount(array, others)
        for name, data in files.items():
            assert (mnt / name).read_bytes() == data
        array.unmount()
        assert fingerprint(victim) == before
        shutil.rmtree(victim / "nasfs")
        done = nasfs(tmp_path, "rebuild", "--array", *others, "--disk", "2", "--onto", victim)
        assert done.returncode == 0, done.stderr
        mnt = mount(array, every)
        for name, data in files.items():
            assert (mnt / name).read_bytes() == data
        array.unmount()
    finally:
        array.cleanup()


def test_labels_of_an_older_format_are_refused(tmp_path: Path) -> None:
    import json

    array = MountedArray(tmp_path, members=3, nparity=1)
    try:
        array.mount()
        array.unmount()
        for m in array.members:
            label = m / "nasfs" / "label.json"
            body = json.loads(label.read_text())
            body["format"] = 1
            label.write_text(json.dumps(body))
        refused(array, array.members, "older nasfs (label format 1)")
    finally:
        array.cleanup()
