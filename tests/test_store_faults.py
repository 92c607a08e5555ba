"""Real damage on member directories: deleted, emptied, foreign, flipped bytes, too much."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from nasfs.store import AssemblyError, ChunkLostError, Progress, Store
from nasfs.store import events as events_mod
from nasfs.store import rebuild as rebuild_mod
from nasfs.store.geometry import shard_member
from nasfs.store.segments import segment_path
from tests.store_util import EventLog, empty_dir, flip_bytes, make_members, new_array, random_chunks

FAULTS = ["deleted", "emptied", "foreign", "flipped"]


def _fill(members: list[Path], seed: int) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    with Store.open(members) as store:
        chunks = random_chunks(rng, 40) + [rng.randbytes(3000) for _ in range(60)]
        ids: list[bytes] = []
        for start in range(0, len(chunks), 9):
            ids += store.put(chunks[start : start + 9])
    return dict(zip(ids, chunks, strict=True))


def _check_all(store: Store, expected: dict[bytes, bytes]) -> None:
    for cid, data in expected.items():
        assert store.get(cid) == data


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("n", "p"), [(4, 1), (5, 2)])
def test_member_fault_then_read_scrub_rebuild(tmp_path: Path, n: int, p: int, fault: str) -> None:
    members = new_array(tmp_path / "array", n, p)
    expected = _fill(members, seed=n + p)
    victims = members[1 : 1 + p]
    rng = random.Random(3)
    if fault == "deleted":
        for v in victims:
            shutil.rmtree(v)
    elif fault == "emptied":
        for v in victims:
            empty_dir(v)
    elif fault == "foreign":
        others = make_members(tmp_path / "other", 3)
        for v in victims:
            empty_dir(v)
        Store.create([*victims, *others[: 3 - len(victims)]], 1)
        with pytest.raises(AssemblyError, match=f"{victims[0]} is a member of another array"):
            Store.open(members)
    elif fault == "flipped":
        for v in victims:
            flip_bytes(v, rng)

    open_with = [m for m in members if not (fault == "foreign" and m in victims)]
    events = EventLog()
    with Store.open(open_with, events=events) as store:
        if fault == "flipped":
            report = store.scrub()
            assert report.repaired_shards > 0 and not report.unrecoverable
            assert "repaired" in events.kinds()
            assert store.scrub().clean
            _check_all(store, expected)
            assert store.health().state == "healthy"
            return
        assert store.health().state == "degraded"
        assert sorted(store.health().missing) == [1 + i for i in range(p)]
        _check_all(store, expected)
        # Writes go on while degraded; the rebuild must cover them too.
        more = [rng.randbytes(rng.randrange(1, 150_000)) for _ in range(12)]
        expected.update(zip(store.put(more), more, strict=True))
        report = store.scrub()
        assert not report.unrecoverable and report.degraded_stripes > 0
        targets = []
        for i, v in enumerate(victims):
            target = v if fault == "emptied" else tmp_path / f"new{i}"
            target.mkdir(exist_ok=True)  # a rebuild never creates its target
            store.rebuild(1 + i, target)
            targets.append(target)
        assert store.health().state == "healthy"
        assert store.scrub().clean
        _check_all(store, expected)
    new_members = [m for m in members if m not in victims] + targets
    events = EventLog()
    with Store.open(list(reversed(new_members)), events=events) as store:
        assert store.health().state == "healthy"
        _check_all(store, expected)
    assert not {"member-missing", "read-error", "unrecoverable"} & events.kinds()


def test_get_heals_a_flipped_chunk_in_place(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 1)
    events = EventLog()
    with Store.open(members, events=events) as store:
        data = random.Random(1).randbytes(100_000)
        (cid,) = store.put([data])
        _chunk, stripe = store.catalog.lookup(cid)  # type: ignore[misc]
        member = shard_member(stripe.first_member, 0, 4)
        path = segment_path(members[member], stripe.segment)
        raw = bytearray(path.read_bytes())
        raw[stripe.offset + 10] ^= 0xFF
        path.write_bytes(raw)
        assert store.get(cid) == data
        assert [e.kind for e in events if e.member == member] == ["repaired"]
        healed = path.read_bytes()
        assert healed[stripe.offset + 10] == raw[stripe.offset + 10] ^ 0xFF
        events.clear()
        assert store.get(cid) == data and not events


@pytest.mark.parametrize(("n", "p"), [(4, 1), (6, 2)])
def test_damage_beyond_parity_is_a_clear_error_never_garbage(
    tmp_path: Path, n: int, p: int
) -> None:
    members = new_array(tmp_path, n, p)
    expected = _fill(members, seed=5)
    with Store.open(members) as store:
        cid = next(c for c, d in expected.items() if len(d) > 50_000)
        _, stripe = store.catalog.lookup(cid)  # type: ignore[misc]
        rng = random.Random(9)
        for j in range(p + 1):  # shard 0 holds the chunk's start; wreck p more shards
            member = shard_member(stripe.first_member, j, n)
            path = segment_path(members[member], stripe.segment)
            with open(path, "r+b") as fh:
                fh.seek(stripe.offset)
                fh.write(rng.randbytes(stripe.shard_size))
        with pytest.raises(ChunkLostError, match=f"chunk {cid.hex()} in stripe {stripe.id}"):
            store.get(cid)
        report = store.scrub()
        assert any(f"stripe {stripe.id} " in u for u in report.unrecoverable)
    # Losing one member more than parity allows: assembly refuses, naming the damage.
    for m in members[: p + 1]:
        shutil.rmtree(m)
    with pytest.raises(AssemblyError, match=rf"too few members .* parity {p} covers"):
        Store.open(members)


def test_rebuild_resumes_after_interruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setattr(rebuild_mod, "REBUILD_BATCH_BYTES", 16 << 10)
    monkeypatch.setattr(events_mod, "REPORT_INTERVAL", 0.0)
    members = new_array(tmp_path, 4, 1)
    expected = _fill(members, seed=11)
    shutil.rmtree(members[2])
    target = tmp_path / "new"
    target.mkdir()

    class Interrupted(Exception):
        pass

    def stop_halfway(p: Progress) -> None:
        if p.done_bytes > p.total_bytes // 2:
            raise Interrupted

    with Store.open(members) as store:
        with pytest.raises(Interrupted):
            store.rebuild(2, target, progress=stop_halfway)
        assert store.health().state == "degraded"
    # The half-done target is not a member yet: the array assembles degraded without it.
    with Store.open([*members, target]) as store:
        assert store.health().missing == [2]
        seen: list[Progress] = []
        report = store.rebuild(2, target, progress=seen.append)
        assert report.resumed_from > 0
        assert seen[-1].done_bytes == seen[-1].total_bytes
        assert store.scrub().clean
    with Store.open([members[0], members[1], members[3], target]) as store:
        assert store.health().state == "healthy"
        _check_all(store, expected)
