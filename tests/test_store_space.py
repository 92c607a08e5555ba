"""Space figures and charges of the store (nasfs.store.space) on real filesystems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasfs.store import Store, StoreFullError
from nasfs.store.space import RESERVE_FLOOR, SpaceAccount, reserve_for
from tests.space_util import MIB, tmpfs_members
from tests.store_util import SMALL, make_members


def test_members_on_one_filesystem_count_it_once(tmp_path: Path) -> None:
    members = make_members(tmp_path, 4)
    Store.create(members, 1, **SMALL)
    st = os.statvfs(tmp_path)
    size = st.f_blocks * st.f_frsize
    with Store.open(members) as store:
        fig = store.space.figures()
        cap = store.capacity()
    assert fig.filesystems == 1
    assert cap.raw_bytes == pytest.approx(size, rel=0.01)
    # Four members on one disk hold (at most) the disk, less a quarter for parity.
    assert cap.usable_bytes <= size * 3 // 4 + 4096
    assert cap.free_bytes <= st.f_bavail * st.f_frsize * 3 // 4


def test_unequal_members_the_smallest_decides(tmp_path: Path) -> None:
    with tmpfs_members(tmp_path, [16, 16, 16, 40]) as members:
        Store.create(members, 1, **SMALL)
        with Store.open(members) as store:
            cap = store.capacity()
            assert cap.raw_bytes == 88 * MIB
            assert cap.usable_bytes == 48 * MIB  # 3 data shards of the smallest member
            assert cap.reserve_bytes == reserve_for(48 * MIB) == 12 * MIB
            assert 0 < cap.free_bytes < 36 * MIB


def test_charges_stop_at_the_reserve_and_come_back(tmp_path: Path) -> None:
    with tmpfs_members(tmp_path, [16] * 4) as members:
        Store.create(members, 1, **SMALL)
        with Store.open(members) as store:
            space = store.space
            free = store.capacity().free_bytes
            mib_cost = space.cost(MIB)
            assert mib_cost >= MIB * 4 // 3  # data plus parity, padded
            taken = 0
            with pytest.raises(StoreFullError, match="the array is full"):
                while True:
                    space.charge(mib_cost)
                    taken += MIB
            assert free - MIB < taken <= free
            assert store.capacity().free_bytes < MIB
            space.uncharge(taken * 2)  # never below zero
            assert store.capacity().free_bytes == free


def test_reserve_formula() -> None:
    assert reserve_for(100 * MIB) == 25 * MIB  # tiny: a quarter
    assert reserve_for(4 << 30) == RESERVE_FLOOR
    assert reserve_for(1 << 40) == (1 << 40) // 32
    assert reserve_for(100 << 40) == 32 << 30


def test_figures_come_from_the_last_measurement_and_never_overstate(tmp_path: Path) -> None:
    """figures() does no I/O (the trio thread asks it for every df): bytes given back or
    written since the last measurement began count as used until the next one."""
    with tmpfs_members(tmp_path, [16] * 4) as members:
        space = SpaceAccount(dict(enumerate(members)), 4, 1)  # no watcher: measure by hand
        space.measure()
        free = space.figures().free_bytes
        cost = space.cost(MIB)
        space.charge(cost)
        assert space.figures().free_bytes < free
        (members[0] / "filler").write_bytes(os.urandom(2 * MIB))  # a member fills up
        assert space.figures().free_bytes < free  # not seen yet, but the charge still is
        space.uncharge(cost)  # stored now (or dropped): on the disks, not yet measured
        assert space.figures().free_bytes < free
        space.measure()
        after = space.figures().free_bytes
        assert after < free  # the filler (2 MiB on one member) is seen now
        (members[0] / "filler").unlink()
        space.changed(cost)  # a put wrote `cost` raw bytes since
        assert space.figures().free_bytes <= after
        space.measure()
        assert space.figures().free_bytes == free
