"""A member's filesystem fills up during a put: a real, small tmpfs as one member."""

from __future__ import annotations

import errno
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.store import Store, StoreFullError
from tests.store_util import SMALL, make_members


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill_up(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_full_member_fails_the_put_cleanly_and_recovers(small_fs: Path, tmp_path: Path) -> None:
    members = [*make_members(tmp_path / "big", 2), small_fs]
    Store.create(members, 1, **SMALL)
    rng = random.Random(4)
    with Store.open(members) as store:
        before = [rng.randbytes(50_000) for _ in range(10)]
        before_ids = store.put(before)
        catalog_before = store.capacity()
        filler = _fill_up(small_fs)
        big = [rng.randbytes(200_000) for _ in range(10)]
        with pytest.raises(StoreFullError, match=f"{small_fs}.* is full") as info:
            store.put(big)
        assert info.value.errno == errno.ENOSPC
        after = store.capacity()
        assert (after.chunks, after.used_bytes) == (catalog_before.chunks,
                                                    catalog_before.used_bytes)
        assert all(not store.contains(c) for c in Store.ids_of(big))
        for cid, data in zip(before_ids, before, strict=True):
            assert store.get(cid) == data
        os.unlink(filler)
        big_ids = store.put(big)
        for cid, data in zip(big_ids, big, strict=True):
            assert store.get(cid) == data
        assert store.health().state == "healthy"
        assert store.scrub().clean
