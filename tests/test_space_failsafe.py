"""No change is acknowledged that will not persist (docs/space.md, "When nothing can be saved").

The member disks are tiny real tmpfs filesystems that something other than nasfs fills to
the last byte (a filler file on each), so the metadata databases really cannot grow: the
commit fails however much of nasfs's own reserve is left. The fsync that needed the
commit says ENOSPC and the namespace goes back to what is on disk; after repeated failures
the volume turns read-only (EROFS for changes, reads go on); once the disks have room
again a remount is writable and holds exactly what was acknowledged.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from nasfs.fs.failsafe import FAILSAFE_AFTER
from tests.space_util import MIB, check_files, fill_disk, tiny_array, write_file


@pytest.fixture(autouse=True)
def _run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFS_RUN_DIR", str(tmp_path / "run"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _errno_of(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except OSError as exc:
        return exc.errno or 0
    return 0


# Only fsync commits: the test knows which commit each change is in.
NO_GROUP_COMMIT = ("--commit-interval", "3600")


def test_a_commit_that_fails_fails_fsync_undoes_and_then_turns_read_only(
        tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount(*NO_GROUP_COMMIT)
        acked: dict[str, bytes] = {}
        for i in range(6):
            data = os.urandom(200_000)
            assert write_file(mnt / f"kept{i}", data, fsync=True)
            acked[f"kept{i}"] = data
        (mnt / "folder").mkdir()
        _fsync_dir(mnt)
        # A fresh mount starts with an empty database log: its next commit must grow it.
        array.unmount()
        array.mount(*NO_GROUP_COMMIT)
        fillers = [fill_disk(m) for m in array.members]

        # 1. The commit fails: fsync says ENOSPC (not EIO), and the change is undone, as
        # programs see it too (the kernel's cached entries are forgotten).
        os.rename(mnt / "kept0", mnt / "moved0")
        assert _errno_of(lambda: _fsync_dir(mnt)) == errno.ENOSPC
        assert (mnt / "kept0").read_bytes() == acked["kept0"]
        assert not (mnt / "moved0").exists()
        assert sorted(os.listdir(mnt)) == sorted([*acked, "folder"])

        # 2. Failing again and again: the volume turns read-only, reads keep working.
        for i in range(1, FAILSAFE_AFTER):
            os.rename(mnt / f"kept{i}", mnt / f"moved{i}")
            assert _errno_of(lambda: _fsync_dir(mnt)) == errno.ENOSPC
        assert _errno_of(lambda: os.rename(mnt / "kept1", mnt / "x")) == errno.EROFS
        assert _errno_of(lambda: os.unlink(mnt / "kept2")) == errno.EROFS
        assert _errno_of(lambda: (mnt / "folder2").mkdir()) == errno.EROFS
        assert _errno_of(lambda: os.rmdir(mnt / "folder")) == errno.EROFS
        assert _errno_of(lambda: open(mnt / "kept3", "r+b")) == errno.EROFS  # noqa: SIM115
        assert _errno_of(lambda: os.chmod(mnt / "kept3", 0o600)) == errno.EROFS
        check_files(mnt, acked)
        _fsync_dir(mnt)  # nothing is pending: a read-only volume's fsync succeeds

        # 3. Unmounting works and says nothing failed at this point (it was told before).
        array.unmount()
        for filler in fillers:
            filler.unlink()
        mnt = array.mount()
        check_files(mnt, acked)
        assert not any(n.startswith("moved") for n in os.listdir(mnt))
        # Writable again, and what is written now is kept.
        more = os.urandom(MIB)
        assert write_file(mnt / "after", more, fsync=True)
        acked["after"] = more
        array.unmount()
        mnt = array.mount()
        check_files(mnt, acked)
        array.unmount()


def test_one_full_disk_costs_no_write(tmp_path: Path) -> None:
    """Only one member's disk is full: its metadata copy steps aside (reported in the log),
    the others take every commit, and nothing acknowledged is lost."""
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount(*NO_GROUP_COMMIT)
        (mnt / "a").write_bytes(b"first")
        _fsync_dir(mnt)
        array.unmount()
        mnt = array.mount(*NO_GROUP_COMMIT)
        filler = fill_disk(array.members[0])  # the primary copy of fs.db is on it
        for i in range(40):
            os.rename(mnt / ("a" if i == 0 else f"b{i - 1}"), mnt / f"b{i}")
            _fsync_dir(mnt)
        # (New data would not fit: every stripe needs room on every disk, docs/space.md.)
        assert not write_file(mnt / "c", b"x")
        array.unmount()
        assert "its disk is full" in array.log()
        filler.unlink()
        mnt = array.mount()
        check_files(mnt, {"b39": b"first"})
        assert os.listdir(mnt) == ["b39"]
        array.unmount()
