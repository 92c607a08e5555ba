"""Store round trips, dedup, narrow stripes, references, capacity, threads."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import blake3
import pytest

from nasfs.store import ChunkNotFoundError, Store
from tests.store_util import SMALL, EventLog, new_array, random_chunks


@pytest.mark.parametrize(("n", "p"), [(3, 1), (4, 1), (5, 2), (6, 2)])
def test_round_trip_random_chunks(tmp_path: Path, n: int, p: int) -> None:
    rng = random.Random(n * 10 + p)
    members = new_array(tmp_path, n, p)
    with Store.open(members) as store:
        chunks = random_chunks(rng, 60)
        ids = []
        for start in range(0, len(chunks), 7):
            ids += store.put(chunks[start : start + 7])
        assert ids == [blake3.blake3(c).digest() for c in chunks]
        for cid, data in zip(ids, chunks, strict=True):
            assert store.get(cid) == data
    rng.shuffle(members)  # assembly does not depend on the order given
    with Store.open(members) as store:
        for cid, data in zip(ids, chunks, strict=True):
            assert store.get(cid) == data
        assert store.health().state == "healthy"


def test_dedup_adds_references_and_writes_nothing(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 1)
    with Store.open(members) as store:
        data = b"x" * 100_000
        first = store.put([data, data])
        stored = store.capacity().stored_bytes
        second = store.put([data])
        assert first == [second[0], second[0]]
        assert store.refcount(second[0]) == 3
        assert store.capacity().stored_bytes == stored
        assert store.capacity().chunks == 1
        store.release(second * 3)
        assert store.refcount(second[0]) == 0
        assert store.capacity().dead_bytes == len(data)
        # A dead chunk still on disk is revived by storing it again, without a write.
        store.put([data])
        assert store.refcount(second[0]) == 1
        assert store.capacity().stored_bytes == stored


def test_small_batches_get_narrow_stripes(tmp_path: Path) -> None:
    members = new_array(tmp_path, 6, 1)  # k = 5
    with Store.open(members) as store:
        store.put([b"tiny"])
        # One 4 KiB data shard plus one parity shard, not five padded data shards.
        assert store.capacity().stored_bytes == 2 * 4096
        store.put([bytes(range(256)) * 100])  # 25600 bytes: 4 data shards of 8 KiB suffice
        stripes = store.catalog.stripes_from(0, 10)
        assert [(s.width, s.shard_size) for s in stripes] == [(1, 4096), (4, 8192)]


def test_get_unknown_chunk_is_a_clear_error(tmp_path: Path) -> None:
    members = new_array(tmp_path, 3, 1)
    with Store.open(members) as store, pytest.raises(ChunkNotFoundError, match="not in the store"):
        store.get(b"\0" * 32)


def test_reconcile_sets_exact_refcounts(tmp_path: Path) -> None:
    members = new_array(tmp_path, 3, 1)
    with Store.open(members) as store:
        a, b, c = store.put([b"a" * 10, b"b" * 10, b"c" * 10])
        store.put([a, a])  # the 32-byte id itself as a chunk: stored once, 2 refs
        store.reconcile({a: 2, c: 5})
        assert (store.refcount(a), store.refcount(b), store.refcount(c)) == (2, 0, 5)
        cap = store.capacity()
        assert cap.dead_bytes == 10 + 32  # b, and the 32-byte chunk (stored once) put above


def test_release_and_capacity_survive_reopen(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 2)
    with Store.open(members) as store:
        ids = store.put([bytes([i]) * 50_000 for i in range(10)])
        store.release(ids[:4])
        cap = store.capacity()
        assert cap.used_bytes == 6 * 50_000 and cap.dead_bytes == 4 * 50_000
        assert cap.usable_bytes == cap.raw_bytes * 2 // 4
        assert cap.free_bytes > 0
    with Store.open(members) as store:
        assert store.capacity().used_bytes == 6 * 50_000
        assert [store.refcount(i) for i in ids] == [0] * 4 + [1] * 6


def test_concurrent_puts_and_gets_from_threads(tmp_path: Path) -> None:
    members = new_array(tmp_path, 5, 2)
    events = EventLog()
    with Store.open(members, events=events) as store:
        seed = random.Random(7)
        shared = [seed.randbytes(30_000) for _ in range(5)]
        results: dict[int, list[bytes]] = {}
        errors: list[BaseException] = []

        def worker(t: int) -> None:
            try:
                rng = random.Random(t)
                mine = random_chunks(rng, 20, 80_000) + shared
                ids = store.put(mine)
                for cid, data in zip(ids, mine, strict=True):
                    assert store.get(cid) == data
                results[t] = ids
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        shared_ids = results[0][-5:]
        assert all(store.refcount(c) == 6 for c in shared_ids)
        # The shared chunks were written once each despite six concurrent puts.
        assert store.capacity().chunks == 6 * 20 + 5 - _duplicates(results)
        assert store.scrub().clean
    assert not {"read-error", "unrecoverable"} & events.kinds()


def _duplicates(results: dict[int, list[bytes]]) -> int:
    own = [c for ids in results.values() for c in ids[:-5]]
    return len(own) - len(set(own))


def test_geometry_is_persisted_in_labels(tmp_path: Path) -> None:
    members = new_array(tmp_path, 3, 1, **SMALL)
    with Store.open(members) as store:
        assert store.label.max_shard_bytes == SMALL["max_shard_bytes"]
        assert store.label.segment_bytes == SMALL["segment_bytes"]
