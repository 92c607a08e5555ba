"""Members that die while the store is open: ext4 images on loop devices shut down
(tests/diskfail_util.py), so every later I/O there answers EIO, as a dead disk does.

No put that returned may lose its chunks: the store fails the dead member, writes on
degraded, reads from parity, keeps its catalog on the surviving copies, and a rebuild onto a
target that dies itself stops with a RebuildError and leaves the target out of use."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from nasfs.db.scrub import scrub_open
from nasfs.store import Progress, Store
from nasfs.store.errors import RebuildError
from tests.diskfail_util import ext4_disks, shut_down
from tests.store_util import SMALL, EventLog, make_members, new_array, random_chunks


def _put_all(store: Store, chunks: list[bytes]) -> dict[bytes, bytes]:
    stored: dict[bytes, bytes] = {}
    for start in range(0, len(chunks), 7):
        batch = chunks[start:start + 7]
        stored.update(zip(store.put(batch), batch, strict=True))
    return stored


@pytest.mark.parametrize(("n", "p"), [(4, 1), (5, 2)])
def test_puts_go_on_degraded_when_members_die(tmp_path: Path, n: int, p: int) -> None:
    rng = random.Random(n * 10 + p)
    with ext4_disks(tmp_path, [f"disk{i}" for i in range(n)]) as members:
        Store.create(members, p, **SMALL)
        events = EventLog()
        dead = members[1:1 + p]
        with Store.open(members, events=events) as store:
            before = _put_all(store, random_chunks(rng, 30))
            for point in dead:
                shut_down(point)
            # The first put after the deaths meets them: it must be stored all the same.
            after = _put_all(store, random_chunks(rng, 30))
            failed = [e for e in events if e.kind == "member-failed"]
            assert sorted(e.member for e in failed if e.member is not None) == list(
                range(1, 1 + p))
            assert all("Input/output error" in e.detail for e in failed)
            assert store.health().state == "degraded"
            assert store.health().missing == list(range(1, 1 + p))
            for cid, data in {**before, **after}.items():
                assert store.get(cid) == data
        survivors = [m for m in members if m not in dead]
        # Reopened without the dead disks: the catalog's surviving copies hold every put.
        with Store.open(survivors) as store:
            assert store.health().missing == list(range(1, 1 + p))
            for cid, data in {**before, **after}.items():
                assert store.get(cid) == data
            for i in range(1, 1 + p):
                target = tmp_path / f"new{i}"
                target.mkdir()
                assert store.rebuild(i, target).unrecoverable == []
            assert store.scrub().clean
            assert store.health().state == "healthy"


def test_rebuild_onto_a_target_that_dies_stops_clearly_and_withdraws_it(
        tmp_path: Path) -> None:
    rng = random.Random(7)
    members = new_array(tmp_path / "array", 4, 1)
    with Store.open(members) as store:
        stored = _put_all(store, random_chunks(rng, 40))
    shutil.rmtree(members[2])
    with ext4_disks(tmp_path, ["target"]) as (target,), Store.open(members) as store:

        def die_at_once(progress: Progress) -> None:
            shut_down(target)  # the first report comes after the first stripe

        with pytest.raises(RebuildError, match=f"the rebuild of disk 3 onto {target} "
                                               "stopped: Input/output error"):
            store.rebuild(2, target, progress=die_at_once)
        # Out of use again: status says degraded, and new puts do not go to the dead disk.
        assert store.health().missing == [2]
        assert 2 not in store.present
        more = _put_all(store, random_chunks(rng, 10))
        for cid, data in {**stored, **more}.items():
            assert store.get(cid) == data
        (fresh,) = make_members(tmp_path, 1, prefix="fresh")
        assert store.rebuild(2, fresh).unrecoverable == []
        assert store.scrub().clean
        assert store.health().state == "healthy"


def test_rebuild_onto_a_dead_target_is_a_rebuild_error(tmp_path: Path) -> None:
    members = new_array(tmp_path / "array", 4, 1)
    with Store.open(members) as store:
        _put_all(store, random_chunks(random.Random(8), 10))
    shutil.rmtree(members[1])
    with ext4_disks(tmp_path, ["target"]) as (target,), Store.open(members) as store:
        shut_down(target)
        with pytest.raises(RebuildError, match="stopped: Input/output error"):
            store.rebuild(1, target)
        assert store.health().missing == [1]


def test_a_member_that_dies_under_a_metadata_copy_alone_is_failed(tmp_path: Path) -> None:
    # No shard is written after the death (a reference released: a catalog commit only),
    # and stat still answers on the dead filesystem: the failed copy is what shows it.
    rng = random.Random(9)
    with ext4_disks(tmp_path, [f"disk{i}" for i in range(4)]) as members:
        Store.create(members, 1, **SMALL)
        events = EventLog()
        with Store.open(members, events=events) as store:
            stored = _put_all(store, random_chunks(rng, 12))
            shut_down(members[0])  # the catalog's primary copy is there
            released = next(iter(stored))
            store.release([released])
            assert store.health().missing == [0]
            (failed,) = [e for e in events if e.kind == "member-failed"]
            assert failed.member == 0 and "Input/output error" in failed.detail
            for cid, data in stored.items():
                assert store.get(cid) == data
            assert store.refcount(released) == 0


def test_a_scrub_that_meets_a_dead_member_counts_degraded_stripes_not_lost_ones(
        tmp_path: Path) -> None:
    # The disk died after the last put and nothing else noticed: the scrub is the first to
    # read it (the fault rounds had it die during a mounted scrub, seed 5102, round 2).
    rng = random.Random(10)
    with ext4_disks(tmp_path, [f"disk{i}" for i in range(4)]) as members:
        Store.create(members, 1, **SMALL)
        with Store.open(members) as store:
            stored = _put_all(store, random_chunks(rng, 60))
            shut_down(members[1])
            report = store.scrub()
            # Its shards could not be rewritten there: the disk is failed, the data whole.
            assert report.unrecoverable == []
            assert report.degraded_stripes > 0
            assert store.health().missing == [1]
            db, as_owner = store.catalog_database()
            metadata = scrub_open(db, as_owner)  # the copy on the dead disk is not "damaged"
            assert metadata.damaged == [] and metadata.unrepaired == []
            for cid, data in stored.items():
                assert store.get(cid) == data
