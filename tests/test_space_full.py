"""A full array on tiny real tmpfs members: what returned success survives, cleanup works.

Each member is its own small tmpfs, so the array really runs out of space. The rules
(docs/space.md): a write that would not fit fails with ENOSPC before it is acknowledged;
creating names stops at the reserve; deleting, renaming, unmounting and mounting go on
working with the data area full, and every acknowledged change is there after a remount.
"""

from __future__ import annotations

import errno
import itertools
import os
import random
import shutil
import threading
from pathlib import Path

import pytest

from tests.space_util import MIB, check_files, fill, tiny_array, write_file


@pytest.fixture(autouse=True)
def _run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFS_RUN_DIR", str(tmp_path / "run"))


def _sizes(seed: int, choices: tuple[int, ...]) -> itertools.cycle[int]:
    rng = random.Random(seed)
    return itertools.cycle([rng.choice(choices) for _ in range(50)])


def test_buffered_writes_past_full_lose_nothing_acknowledged(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount()
        acked: dict[str, bytes] = {}
        fill(mnt, "big", _sizes(1, (MIB, 3 * MIB // 2, 300_000)), acked)
        assert len(acked) >= 5, "the array said it was full almost at once"
        # Small writes still fit in the last corners, until they too are refused...
        fill(mnt, "late", itertools.cycle([5]), acked)
        assert not write_file(mnt / "one-more", b"late\n")
        # ...but deleting and renaming still work, through the reserve.
        first, second = sorted(acked)[:2]
        os.unlink(mnt / first)
        del acked[first]
        os.rename(mnt / second, mnt / "renamed")
        acked["renamed"] = acked.pop(second)
        array.unmount()  # asserts a clean exit: nothing failed to flush
        array.mount()
        check_files(mnt, acked)
        assert not (mnt / first).exists()
        array.unmount()


def test_fsynced_small_files_and_mkdir_storm_then_crash(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount()
        acked: dict[str, bytes] = {}
        fill(mnt, "s", _sizes(2, (10, 4096, 70_000)), acked, fsync=True)
        made = []
        for i in range(100_000):
            try:
                os.mkdir(mnt / f"d{i:05d}")
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
            made.append(f"d{i:05d}")
        else:
            pytest.fail("mkdir never said the array was full")
        for name in made[: len(made) // 2]:
            os.rename(mnt / name, mnt / f"{name}.moved")
        fd = os.open(mnt, os.O_RDONLY)
        os.fsync(fd)  # commits the namespace (directories are fsynced through their parent)
        os.close(fd)
        array.kill()
        array.mount()
        check_files(mnt, acked)
        for name in made[: len(made) // 2]:
            assert (mnt / f"{name}.moved").is_dir()
        for name in made[len(made) // 2 :]:
            assert (mnt / name).is_dir()
        # With the data area full, the whole tree can still be removed.
        for name in list(acked):
            os.unlink(mnt / name)
        for entry in os.listdir(mnt):  # folders, and the file whose write was refused
            if (mnt / entry).is_dir():
                os.rmdir(mnt / entry)
            else:
                os.unlink(mnt / entry)
        array.unmount()
        array.mount()
        assert os.listdir(mnt) == []
        array.unmount()


def test_concurrent_writers_fill_without_eio(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount()
        results: list[dict[str, bytes]] = [{} for _ in range(4)]
        errors: list[BaseException] = []

        def writer(i: int) -> None:
            try:
                fill(mnt, f"w{i}-", _sizes(10 + i, (5000, 200_000, MIB)), results[i],
                     fsync=bool(i % 2))
            except BaseException as exc:  # an EIO or other error fails the test below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        array.unmount()
        array.mount()
        for acked in results:
            check_files(mnt, acked)
        array.unmount()


def test_df_shows_the_space_files_can_take(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount()
        st = os.statvfs(mnt)
        usable = 3 * 24 * MIB  # three data shards of 24 MiB, one parity
        total = st.f_blocks * st.f_frsize
        assert total <= usable * 3 // 4  # the reserve (a quarter on a tiny array) is out
        assert st.f_files < 1 << 20 and st.f_ffree < st.f_files  # real figures, not 2**32
        acked: dict[str, bytes] = {}
        fill(mnt, "f", _sizes(3, (MIB, 100_000)), acked)
        fill(mnt, "g", itertools.cycle([5]), acked)
        st = os.statvfs(mnt)
        assert st.f_bavail * st.f_frsize < 64 << 10  # full means df says full
        assert st.f_ffree == 0 and st.f_files >= len(acked)
        array.unmount()


def test_unequal_members_fill_to_the_smallest_and_lose_nothing(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [16, 16, 24, 40]) as array:
        mnt = array.mount()
        acked: dict[str, bytes] = {}
        fill(mnt, "u", _sizes(4, (MIB, 200_000, 3000)), acked)
        fill(mnt, "v", itertools.cycle([5]), acked)
        array.unmount()
        array.mount()
        check_files(mnt, acked)
        array.unmount()


def test_degraded_full_array_loses_nothing(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [16] * 4) as array:
        mnt = array.mount()
        (mnt / "before").write_bytes(b"written healthy")
        array.unmount()
        # One disk gone: its tmpfs is emptied, as a pulled disk leaves an empty slot.
        shutil.rmtree(array.members[3] / "nasfs")
        mnt = array.mount()
        acked: dict[str, bytes] = {"before": b"written healthy"}
        fill(mnt, "e", _sizes(6, (MIB, 2 * MIB)), acked)  # buffered, past full
        fill(mnt, "d", _sizes(5, (100_000, 5)), acked, fsync=True)  # and the last corners
        array.unmount()  # asserts a clean exit: every buffered write found its room
        array.mount()
        check_files(mnt, acked)
        for name in [n for n in acked if n.startswith("e")][:5]:
            os.unlink(mnt / name)
        array.unmount()
