"""The streaming reader of scrub and rebuild (nasfs.store.stripestream): coalesced reads
give each shard its own bytes, and damage costs only the shards it is in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasfs.store import stripestream
from nasfs.store.segments import segment_path
from nasfs.store.stripestream import read_member

SHARD = 4096


def _member(tmp_path: Path, segments: dict[int, bytes]) -> Path:
    member = tmp_path / "member"
    for seg, data in segments.items():
        path = segment_path(member, seg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return member


def test_adjacent_shards_come_back_whole_and_in_place(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(10 * SHARD)
    member = _member(tmp_path, {1: data, 2: data[::-1]})
    # Three shards per run at most: runs end at the size limit and at gaps.
    monkeypatch.setattr(stripestream, "READ_RUN_BYTES", 3 * SHARD)
    wanted = [(1, i * SHARD, SHARD) for i in (0, 1, 2, 3, 4, 7, 8)] + [(2, 0, 2 * SHARD)]
    got = read_member(member, list(reversed(wanted)))
    assert set(got) == {(seg, off) for seg, off, _ in wanted}
    for seg, off, length in wanted:
        source = data if seg == 1 else data[::-1]
        assert bytes(got[(seg, off)]) == source[off : off + length]


def test_a_truncated_file_fails_only_the_shards_past_its_end(tmp_path: Path) -> None:
    data = os.urandom(5 * SHARD + 100)  # the fifth shard is cut short, the sixth is gone
    member = _member(tmp_path, {3: data})
    wanted = [(3, i * SHARD, SHARD) for i in range(7)]
    got = read_member(member, wanted)
    for i in range(5):
        assert bytes(got[(3, i * SHARD)]) == data[i * SHARD : (i + 1) * SHARD]
    assert got[(3, 5 * SHARD)] == f"unreadable: short read (100 of {SHARD} bytes)"
    assert got[(3, 6 * SHARD)] == f"unreadable: short read (0 of {SHARD} bytes)"


def test_a_missing_segment_file_fails_its_shards_and_no_others(tmp_path: Path) -> None:
    data = os.urandom(2 * SHARD)
    member = _member(tmp_path, {1: data})
    got = read_member(member, [(1, 0, SHARD), (9, 0, SHARD), (1, SHARD, SHARD)])
    assert bytes(got[(1, 0)]) == data[:SHARD]
    assert bytes(got[(1, SHARD)]) == data[SHARD:]
    assert isinstance(got[(9, 0)], str) and got[(9, 0)].startswith("unreadable: ")


def test_a_chunk_across_shards_is_checked_piece_by_piece(tmp_path: Path) -> None:
    """consistent() hashes a chunk that spans data shards without joining them, and still
    finds a wrong byte in any piece and non-zero padding."""
    from nasfs.store import code as parity
    from nasfs.store.catalog import ChunkRecord, StripeRecord
    from nasfs.store.reader import chunk_hash
    from nasfs.store.stripecheck import check_stripe, consistent

    first, second = os.urandom(SHARD + 1000), os.urandom(SHARD - 2000)
    data = first + second + bytes(3 * SHARD - len(first) - len(second))
    shards = [data[i * SHARD : (i + 1) * SHARD] for i in range(3)]
    stripe = StripeRecord(0, 1, 0, SHARD, 3, 0, len(first) + len(second))
    chunks = [ChunkRecord(chunk_hash(first), 0, 0, len(first), 1),
              ChunkRecord(chunk_hash(second), 0, len(first), len(second), 1)]
    full = [*shards, *parity.encode(shards, 1)]
    views = [memoryview(s) for s in full]  # as the streaming reader hands them over
    assert consistent(views, stripe, chunks, 1)
    wrong = bytearray(full[1])
    wrong[500] ^= 1  # inside the second piece of the first chunk
    assert not consistent([full[0], bytes(wrong), *full[2:]], stripe, chunks, 1)
    padded = bytearray(full[2])
    padded[-1] = 7  # padding that is not zero
    assert not consistent([*full[:2], bytes(padded), full[3]], stripe, chunks, 1,
                          check_parity=False)
    # The wrong shard is found and put right from parity.
    verdict = check_stripe([full[0], bytes(wrong), *full[2:]], {}, stripe, chunks, 1)
    assert verdict.erased == {1} and verdict.shards is not None
    assert bytes(verdict.shards[1]) == full[1]
