#!/usr/bin/env python3
"""Benchmark the compiled parity module against the memcpy rate of the same bytes.

For k data shards of --size MiB and p = 1, 2 it times encode_into, a one-shard rebuild and
(p = 2) a two-data-shard rebuild, all into preallocated buffers, and prints GB/s of data
(k x size bytes per call) and the ratio to memcpy of those k x size input bytes measured in
the same run (best of --repeat samples each, ours and memcpy's taken alternately, so load
from other processes on a shared machine hits both sides alike). numpy's XOR and zfec,
when importable, run the same work beside ours.

Usage: .venv/bin/python scripts/bench_parity.py [--size MiB] [--ks 3,4,8] [--repeat N]
       [--level avx2|...|all]
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys
import time
from collections.abc import Callable

import parity
from parity import _parity

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 0.02


def loops_for(call: Callable[[], object]) -> int:
    """How many calls make one ~20 ms sample."""
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(SAMPLE_SECONDS / once))


def sample(call: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return (time.perf_counter() - start) / loops


def best_seconds(call: Callable[[], object], repeat: int) -> float:
    """Best time of one call over `repeat` samples."""
    loops = loops_for(call)
    return min(sample(call, loops) for _ in range(repeat))


def paired_best_seconds(
    call: Callable[[], object], baseline: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best times of call and baseline, sampled alternately so that load from other
    processes on a shared machine hits both sides alike."""
    loops, base_loops = loops_for(call), loops_for(baseline)
    best, base_best = float("inf"), float("inf")
    for _ in range(repeat):
        best = min(best, sample(call, loops))
        base_best = min(base_best, sample(baseline, base_loops))
    return best, base_best


def memcpy_call(nbytes: int) -> Callable[[], object]:
    """ctypes.memmove of nbytes between two preallocated buffers (glibc memcpy)."""
    src = bytearray(os.urandom(nbytes))
    dst = bytearray(nbytes)
    src_addr = ctypes.addressof(ctypes.c_char.from_buffer(src))
    dst_addr = ctypes.addressof(ctypes.c_char.from_buffer(dst))

    def copy() -> None:
        # Referring to src and dst keeps the buffers alive as long as the closure.
        ctypes.memmove(dst_addr, src_addr, len(src) if src is not dst else 0)

    return copy


def numpy_xor(shards: list[bytearray]) -> Callable[[], object] | None:
    try:
        import numpy as np
    except ImportError:
        return None
    dtype = np.uint64 if len(shards[0]) % 8 == 0 else np.uint8
    arrays = [np.frombuffer(s, dtype=dtype) for s in shards]
    out = np.empty_like(arrays[0])

    def run() -> None:
        np.bitwise_xor(arrays[0], arrays[1], out=out)
        for a in arrays[2:]:
            np.bitwise_xor(out, a, out=out)

    return run


def zfec_encode(shards: list[bytearray], nparity: int) -> Callable[[], object] | None:
    try:
        import zfec  # type: ignore[import-not-found]
    except ImportError:
        return None
    k = len(shards)
    encoder = zfec.Encoder(k, k + nparity)
    blocks = [bytes(s) for s in shards]
    return lambda: encoder.encode(blocks, list(range(k, k + nparity)))


Row = tuple[str, float, float, str]


def rows_for(k: int, size: int, repeat: int) -> list[Row]:
    """(work, our GB/s, memcpy GB/s, other libraries) for k data shards of `size` bytes."""
    data = [bytearray(os.urandom(size)) for _ in range(k)]
    nbytes = k * size
    memcpy = memcpy_call(nbytes)
    rows: list[Row] = []

    def rate(seconds: float) -> float:
        return nbytes / seconds / 1e9

    def measure(work: str, call: Callable[[], object], others: list[str]) -> None:
        ours, base = paired_best_seconds(call, memcpy, repeat)
        rows.append((work, rate(ours), rate(base), "  ".join(others)))

    for nparity in (1, 2):
        out = [bytearray(size) for _ in range(nparity)]
        others = []
        np_run = numpy_xor(data) if nparity == 1 else None
        if np_run is not None:
            others.append(f"numpy {rate(best_seconds(np_run, repeat)):6.2f}")
        zf_run = zfec_encode(data, nparity)
        if zf_run is not None:
            others.append(f"zfec {rate(best_seconds(zf_run, repeat)):6.2f}")
        measure(f"k={k} p={nparity} encode",
                lambda out=out: parity.encode_into(data, out), others)

        full = data + [bytearray(b) for b in parity.encode(data, nparity)]
        shards: list[bytearray | None] = list(full)
        shards[0] = None
        target: list[bytearray | None] = [None] * len(full)
        target[0] = bytearray(size)
        others = []
        np_run = numpy_xor(full[1:k + 1])
        if np_run is not None:
            others.append(f"numpy {rate(best_seconds(np_run, repeat)):6.2f}")
        measure(f"k={k} p={nparity} rebuild 1 data",
                lambda s=shards, t=target, p=nparity: parity.reconstruct_into(s, p, t), others)

        if nparity == 2:
            shards = list(full)
            shards[0] = shards[k - 1] = None
            target = [None] * len(full)
            target[0], target[k - 1] = bytearray(size), bytearray(size)
            measure(f"k={k} p=2 rebuild 2 data",
                    lambda s=shards, t=target: parity.reconstruct_into(s, 2, t), [])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1.0, help="shard size in MiB")
    parser.add_argument("--ks", default="3,4,8", help="data shard counts, comma separated")
    parser.add_argument("--repeat", type=int, default=7, help="samples per measurement")
    parser.add_argument("--level", default=None,
                        help="SIMD level to run (default: the dispatched one; 'all' for each)")
    args = parser.parse_args()
    size = int(args.size * 1024 * 1024)
    ks = [int(k) for k in args.ks.split(",")]
    levels = (_parity._levels() if args.level == "all"
              else [args.level or parity.simd_level()])

    for level in levels:
        _parity._set_level(level)
        print(f"parity {level} ({', '.join(_parity._levels())} available), "
              f"shards of {size / 2**20:g} MiB; GB/s of data bytes per call, best of "
              f"{args.repeat}")
        print(f"{'work':<24} {'GB/s':>7} {'memcpy':>7} {'ratio':>6}  others (GB/s)")
        for k in ks:
            for work, gbps, mem, others in rows_for(k, size, args.repeat):
                print(f"{work:<24} {gbps:7.2f} {mem:7.2f} {gbps / mem:5.2f}x  {others}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
