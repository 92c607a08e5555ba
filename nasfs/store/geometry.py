"""Stripe geometry: how chunks are packed into stripes and where each shard lives.

A stripe has `width` data shards (1..k, where k = members - nparity) of `shard_size` bytes
plus `nparity` parity shards of the same size. Its data is the concatenation of its data
shards; chunks are packed back to back in it, the tail is zero padding. Shard j (data
0..width-1, then P, then Q) lives on member (first_member + j) % member_count, every shard
at the same byte offset of that member's file of the stripe's segment. first_member rotates
with the stripe id, so parity and narrow stripes spread over all members.

Small batches get narrow stripes (fewer data shards, shards of one 4 KiB block) rather than
a full-width stripe padded with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALIGN = 4096


def round_up(n: int, to: int) -> int:
    return -(-n // to) * to


@dataclass(frozen=True)
class StripeShape:
    width: int
    shard_size: int

    @property
    def data_capacity(self) -> int:
        return self.width * self.shard_size


def shape_for(data_len: int, k: int) -> StripeShape:
    """The smallest stripe shape holding `data_len` bytes of data across at most k shards."""
    shard = max(round_up(-(-data_len // k), ALIGN), ALIGN)
    width = max(1, min(k, -(-data_len // shard)))
    return StripeShape(width, shard)


def pack(lengths: Sequence[int], k: int, max_shard: int) -> list[list[int]]:
    """Group chunk indexes into stripes of at most k * max_shard data bytes, in order.

    A chunk larger than that gets a stripe of its own (with larger shards): chunks never
    span stripes, so a healthy read of a chunk is one stripe's contiguous range.
    """
    cap = k * max_shard
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(lengths):
        if current and total + n > cap:
            groups.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    if current:
        groups.append(current)
    return groups


def shard_member(first_member: int, shard: int, member_count: int) -> int:
    return (first_member + shard) % member_count


def member_shard(first_member: int, member: int, member_count: int, total_shards: int) -> int:
    """Which shard of the stripe lives on `member`, or -1 when it holds none."""
    j = (member - first_member) % member_count
    return j if j < total_shards else -1


@dataclass(frozen=True)
class Piece:
    """Part of a chunk held by one data shard."""

    shard: int
    start: int  # byte offset inside the shard
    end: int
    chunk_pos: int  # where these bytes go in the chunk


def chunk_pieces(offset: int, length: int, shard_size: int) -> list[Piece]:
    pieces = []
    pos = offset
    end = offset + length
    while pos < end:
        shard, start = divmod(pos, shard_size)
        take = min(shard_size - start, end - pos)
        pieces.append(Piece(shard, start, start + take, pos - offset))
        pos += take
    return pieces
