"""Degraded reads use all the redundancy they have, and report every EIO they return.

Real member directories; a member is made missing by moving its directory away before the
array is assembled, and shards are damaged by overwriting their bytes in the segment files.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from nasfs.store import ChunkLostError, Store
from nasfs.store.catalog import ChunkRecord, StripeRecord
from nasfs.store.geometry import chunk_pieces, shard_member
from nasfs.store.segments import segment_path
from tests.store_util import EventLog, new_array


def _locate(store: Store, cid: bytes) -> tuple[ChunkRecord, StripeRecord]:
    found = store.catalog.lookup(cid)
    assert found is not None
    return found


def _wreck(members: list[Path], stripe: StripeRecord, shard: int, n: int,
           rng: random.Random) -> int:
    """Overwrite a whole shard of the stripe with noise; returns the member holding it."""
    member = shard_member(stripe.first_member, shard, n)
    with open(segment_path(members[member], stripe.segment), "r+b") as fh:
        fh.seek(stripe.offset)
        fh.write(rng.randbytes(stripe.shard_size))
    return member


def _shard_bytes(members: list[Path], stripe: StripeRecord, shard: int, n: int) -> bytes:
    member = shard_member(stripe.first_member, shard, n)
    with open(segment_path(members[member], stripe.segment), "rb") as fh:
        fh.seek(stripe.offset)
        return fh.read(stripe.shard_size)


def _put_two(members: list[Path]) -> tuple[bytes, bytes, bytes, bytes]:
    """A small chunk alone in data shard 0 and a large one filling the rest of the stripe."""
    rng = random.Random(11)
    small, large = rng.randbytes(5000), rng.randbytes(100_000)
    with Store.open(members) as store:
        a, b = store.put([small, large])
        ca, stripe = _locate(store, a)
        assert stripe.width >= 2 and {p.shard for p in chunk_pieces(
            ca.offset, ca.length, stripe.shard_size)} == {0}
    return a, small, b, large


def _missing(members: list[Path], member: int) -> None:
    shutil.move(members[member], members[member].with_name("moved-away"))


# (A wrong Q is not needed to rebuild one missing shard: reads never see it; scrub does.)
@pytest.mark.parametrize("wrong", ["P", "other data shard"])
def test_p2_one_member_missing_and_one_more_shard_wrong_still_reads(
    tmp_path: Path, wrong: str
) -> None:
    n = 6
    members = new_array(tmp_path, n, 2)
    a, small, b, large = _put_two(members)
    with Store.open(members) as store:
        _, stripe = _locate(store, a)
    good = {j: _shard_bytes(members, stripe, j, n) for j in range(stripe.width + 2)}
    shard = {"P": stripe.width, "other data shard": 1}[wrong]
    bad_member = _wreck(members, stripe, shard, n, random.Random(3))
    gone = shard_member(stripe.first_member, 0, n)  # the member holding the small chunk
    _missing(members, gone)
    events = EventLog()
    with Store.open(members, events=events) as store:
        assert store.get(a) == small
        # The wrong shard was found, rewritten from the others, and said so.
        assert [(e.kind, e.member) for e in events if e.kind in ("repaired", "read-error")] \
            == [("repaired", bad_member)], events
        assert _shard_bytes(members, stripe, shard, n) == good[shard]
        events.clear()
        assert store.get(a) == small and store.get(b) == large
        assert not [e for e in events if e.kind != "member-missing"]


def test_p1_damage_beyond_parity_is_reported_per_member_before_eio(tmp_path: Path) -> None:
    n = 4
    members = new_array(tmp_path, n, 1)
    a, _, _, _ = _put_two(members)
    with Store.open(members) as store:
        _, stripe = _locate(store, a)
    holder = _wreck(members, stripe, 0, n, random.Random(5))  # the small chunk's bytes
    _missing(members, shard_member(stripe.first_member, 1, n))
    events = EventLog()
    with Store.open(members, events=events) as store, pytest.raises(ChunkLostError):
        store.get(a)
    assert [(e.kind, e.member) for e in events if e.kind == "read-error"] == [("read-error",
                                                                                holder)]
    assert [e.detail for e in events if e.kind == "unrecoverable"] == [
        f"chunk {a.hex()[:16]} stripe {stripe.id} (segment {stripe.segment}) is lost: more "
        "shards are missing or damaged than parity 1 can rebuild"]


def test_p1_a_wrong_data_shard_is_healed_on_read(tmp_path: Path) -> None:
    n = 4
    members = new_array(tmp_path, n, 1)
    a, small, b, large = _put_two(members)
    with Store.open(members) as store:
        _, stripe = _locate(store, b)
    good = _shard_bytes(members, stripe, 1, n)
    bad_member = _wreck(members, stripe, 1, n, random.Random(8))  # holds the large chunk's tail
    events = EventLog()
    with Store.open(members, events=events) as store:
        assert store.get(b) == large and store.get(a) == small
    assert [(e.kind, e.member) for e in events] == [("repaired", bad_member)]
    assert _shard_bytes(members, stripe, 1, n) == good
