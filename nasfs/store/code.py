"""Parity over a stripe's shards, including one-data-shard stripes.

The parity module needs at least two data shards. With one data shard both P (XOR) and Q
(g^0 * D) equal the data shard, so a one-wide stripe is simply mirrored; this module
handles that case so small writes can use one 4 KiB data shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import parity

Shard = bytes | bytearray | memoryview


def encode(data: Sequence[Shard], nparity: int) -> list[bytes]:
    if len(data) == 1:
        return [bytes(data[0])] * nparity
    return list(parity.encode(data, nparity))


def encode_shards(data: Sequence[Shard], nparity: int) -> list[Shard]:
    """Parity shards for writing; with one data shard, the shard itself (no copy).

    parity.encode allocates its outputs uninitialised; a fresh zeroed bytearray for
    encode_into costs page faults and a memset (measured 7x slower for 4 x 1 MiB, p=2).
    """
    if len(data) == 1:
        return [data[0]] * nparity
    return list(parity.encode(data, nparity))


def reconstruct(shards: Sequence[Shard | None], nparity: int) -> list[bytes]:
    if len(shards) == 1 + nparity:
        survivor = bytes(next(s for s in shards if s is not None))
        return [survivor if s is None else bytes(s) for s in shards]
    return list(parity.reconstruct(shards, nparity))
