"""Reading a chunk back: direct shard reads when healthy, reconstruction when not.

A healthy read touches only the data shard ranges that hold the chunk and checks BLAKE3.
If a shard is missing, unreadable or the hash does not match, the same position range is
read from every shard of the stripe and parity fills in the gaps. When the damaged shard
cannot be told from the others (silent corruption), each combination of further shards up to
what parity allows is tried as an erasure until the chunk's hash matches, as scrub does:
every present shard is a candidate, parity shards and data shards the chunk does not touch
included (a wrong P with a missing member on p=2 is only found by erasing P and rebuilding
from Q). The hash is the arbiter, so garbage is never returned. Healing rewrites only
verified bytes: the chunk's own ranges here; a wrong shard outside them is named in
`ReadOutcome.suspect` for the caller to heal by checking the whole stripe.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from nasfs.store import code as parity
from nasfs.store.catalog import ChunkRecord, StripeRecord
from nasfs.store.disks import disk_name
from nasfs.store.geometry import Piece, chunk_pieces, shard_member
from nasfs.store.segments import read_range

log = logging.getLogger(__name__)


HASH_THREADS_FROM = 8 << 20


def chunk_hash(data: bytes | memoryview) -> bytes:
    # Only very large chunks use several threads (blake3 releases the GIL while it hashes):
    # 1 MiB records already arrive several at a time (kernel readahead, put batches hashed
    # in a pool), and threading one 1 MiB hash cost 30% more CPU on a 2-core machine.
    threads = blake3.blake3.AUTO if len(data) >= HASH_THREADS_FROM else 1
    return blake3.blake3(data, max_threads=threads).digest()


@dataclass
class Repair:
    """A verified byte range to put back on a present member."""

    member: int
    segment: int
    offset: int  # absolute offset in the member's segment file
    data: bytes


@dataclass
class ReadOutcome:
    data: bytes | None  # None: more shards are damaged than parity covers
    repairs: list[Repair]
    damaged: list[tuple[int, str]]  # (member, why) shards found missing/unreadable/wrong
    # Shard indexes found wrong whose damage the chunk's own bytes do not cover (parity, or
    # data the chunk does not touch): only a whole-stripe check can rewrite them safely.
    suspect: set[int] = field(default_factory=set)


def read_direct(
    chunk: ChunkRecord, stripe: StripeRecord, present: dict[int, Path], member_count: int
) -> bytes | None:
    """The chunk from its data shards, or None if any piece is missing or the hash fails."""
    parts = []
    for piece in chunk_pieces(chunk.offset, chunk.length, stripe.shard_size):
        member = shard_member(stripe.first_member, piece.shard, member_count)
        path = present.get(member)
        if path is None:
            return None
        try:
            start = stripe.offset + piece.start
            parts.append(read_range(path, stripe.segment, start, piece.end - piece.start))
        except OSError as exc:
            log.warning("chunk %s: %s unreadable: %s", chunk.id.hex()[:16], disk_name(member), exc)
            return None
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    return data if chunk_hash(data) == chunk.id else None


def read_reconstructing(
    chunk: ChunkRecord,
    stripe: StripeRecord,
    present: dict[int, Path],
    member_count: int,
    nparity: int,
    on_read_error: Callable[[int, OSError], None] | None = None,
) -> ReadOutcome:
    """The chunk rebuilt from every shard of its stripe (`data` None if parity cannot
    cover the damage; `damaged` then lists what could be told: missing and unreadable)."""
    pieces = chunk_pieces(chunk.offset, chunk.length, stripe.shard_size)
    lo = min(p.start for p in pieces)
    hi = max(p.end for p in pieces)
    total = stripe.width + nparity
    shards: list[bytes | None] = []
    damaged: list[tuple[int, str]] = []
    for j in range(total):
        member = shard_member(stripe.first_member, j, member_count)
        path = present.get(member)
        if path is None:
            shards.append(None)
            damaged.append((member, "member missing"))
            continue
        try:
            shards.append(read_range(path, stripe.segment, stripe.offset + lo, hi - lo))
        except OSError as exc:
            if on_read_error is not None:
                on_read_error(member, exc)
            shards.append(None)
            damaged.append((member, f"unreadable: {exc.strerror or exc}"))
    lost = {j for j, s in enumerate(shards) if s is None}
    if len(lost) > nparity:
        return ReadOutcome(None, [], damaged)
    covering = {p.shard for p in pieces}
    candidates = [j for j in range(total) if j not in lost]
    for extra in range(0, nparity - len(lost) + 1):
        for guess in itertools.combinations(candidates, extra):
            erased = lost | set(guess)
            if not any(j < stripe.width for j in erased):
                continue  # the data would be exactly what the direct read already rejected
            trial = [None if j in erased else s for j, s in enumerate(shards)]
            rebuilt = parity.reconstruct(trial, nparity)
            data = _assemble(pieces, rebuilt, lo, chunk.length)
            if chunk_hash(data) != chunk.id:
                continue
            repairs = []
            for piece in pieces:
                if piece.shard not in erased:
                    continue
                member = shard_member(stripe.first_member, piece.shard, member_count)
                if member in present:
                    repairs.append(
                        Repair(
                            member,
                            stripe.segment,
                            stripe.offset + piece.start,
                            data[piece.chunk_pos : piece.chunk_pos + piece.end - piece.start],
                        )
                    )
            for j in guess:
                damaged.append(
                    (shard_member(stripe.first_member, j, member_count), "content did not match")
                )
            return ReadOutcome(data, repairs, damaged, {j for j in guess if j not in covering})
    return ReadOutcome(None, [], damaged)


def _assemble(pieces: list[Piece], shards: list[bytes], lo: int, length: int) -> bytes:
    out = bytearray(length)
    for p in pieces:
        source = shards[p.shard]
        out[p.chunk_pos : p.chunk_pos + p.end - p.start] = source[p.start - lo : p.end - lo]
    return bytes(out)
