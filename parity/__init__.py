"""RAID5/RAID6 parity for nasfs stripes: a compiled C module with run-time SIMD dispatch.

Shard order is always data 0..k-1, then P, then Q. nparity 1 is XOR (RAID5); nparity 2 adds
Q = sum g^i * D_i over GF(2^8) with polynomial 0x11d and generator 2, the Linux md RAID6
syndrome, so the on-disk format is the same as md's. Any one (nparity 1) or any two
(nparity 2) lost shards, data or parity, are rebuilt. The functions accept any contiguous
buffer-protocol object, release the GIL on large inputs, and raise TypeError or
ParityError (a ValueError) naming the bad argument. `reference` is the pure-Python
definition with the same API; `selftest()` checks the compiled build against it.
"""

from . import reference
from ._parity import (
    ParityError,
    encode,
    encode_into,
    reconstruct,
    reconstruct_into,
    simd_level,
)
from .selftest import selftest

__all__ = [
    "ParityError",
    "encode",
    "encode_into",
    "reconstruct",
    "reconstruct_into",
    "reference",
    "selftest",
    "simd_level",
]
