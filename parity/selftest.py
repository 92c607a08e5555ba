"""Start-up self-test of the compiled parity module: catches a miscompiled or mis-dispatched
build before it writes a stripe.

It runs a known-answer vector (whose bytes can be checked by hand: Q of D_0 alone is D_0,
g*0x80 = 0x1d) and compares every SIMD level this CPU can run with the pure-Python
reference on lengths that exercise the vector body, the scalar tail and a block boundary,
for every choice of one or two lost shards. It takes a few milliseconds.
"""

from __future__ import annotations

import itertools
import logging
import random

from . import _parity, reference

log = logging.getLogger(__name__)

KNOWN_DATA = (b"\x01\x80\xff\x00\x10", b"\x01\x80\xff\x53\x00", b"\x01\x80\xff\xca\x00")
KNOWN_P = bytes.fromhex("0180ff9910")
KNOWN_Q = bytes.fromhex("07a7c7a910")

# Vector-body lengths, tails, and one length crossing the 8 KiB column block.
CHECK_LENGTHS = (0, 1, 63, 129, 8192 + 131)


def _check(condition: bool, what: str, level: str) -> None:
    if not condition:
        raise RuntimeError(f"parity self-test failed at SIMD level {level}: {what}")


def _check_level(level: str, rng: random.Random) -> None:
    _check(_parity.encode(KNOWN_DATA, 2) == [KNOWN_P, KNOWN_Q], "known-answer vector", level)
    for length in CHECK_LENGTHS:
        k = 4
        data = [rng.randbytes(length) for _ in range(k)]
        for nparity in (1, 2):
            expected = reference.encode(data, nparity)
            _check(_parity.encode(data, nparity) == expected, f"encode of {length} B", level)
            full = data + expected
            # The long length only checks the block boundary of encode and one recovery.
            lost_sets = (
                [(0, k - 1)] if length > 4096 and nparity == 2
                else itertools.chain.from_iterable(
                    itertools.combinations(range(k + nparity), n)
                    for n in range(1, nparity + 1)
                )
            )
            for lost in lost_sets:
                shards = [None if i in lost else s for i, s in enumerate(full)]
                got = _parity.reconstruct(shards, nparity)
                _check(got == full, f"rebuild of shards {lost} of {length} B", level)


def selftest() -> None:
    """Raise RuntimeError if any SIMD level disagrees with the reference implementation."""
    rng = random.Random(0x5EED)
    in_use = _parity.simd_level()
    try:
        for level in _parity._levels():
            _parity._set_level(level)
            _check_level(level, rng)
    finally:
        _parity._set_level(in_use)
    log.debug("parity self-test passed at levels %s", _parity._levels())
