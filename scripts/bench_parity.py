#!/usr/bin/env python3
"""Benchmark every parity path against the memcpy rate of the same bytes, each row in a
fresh process.

A row is one (k, work, layout): k data shards of --size MiB, one of the works below, and
one way of holding the shards. Every row runs in a subprocess of its own, so no row
inherits a warm heap, warm caches or a raised malloc threshold from another. Inside it the
first call is timed alone (what a fresh process pays once), then samples of the work and of
memcpy are taken alternately (so load from other processes on a shared machine hits both
alike): memcpy copies the same k input buffers into one preallocated buffer. The table
prints GB/s of data bytes (k x size per call) of the best samples (the least disturbed by
other processes), their ratio, the ratio of the medians, the first call's rate and page
faults, and the page faults per call over the samples (resource.getrusage minflt).

Works: encode p=1 and p=2 (parity.encode, which allocates its outputs, as the store calls
it), encode_into p=2 (caller-provided outputs), rebuild of one data shard (p=1, p=2) and
of two data shards (p=2) with parity.reconstruct, and the two-data rebuild with
reconstruct_into. Layouts: bytes, bytearray, memoryview of bytes, views of one buffer
(k slices of one bytes object, all at the same page offset, as the store's assembled
stripes), and unaligned views (a memoryview starting one byte into a bytes object).

zfec (if importable) runs the encode rows on the bytes layout beside ours.

Usage: .venv/bin/python scripts/bench_parity.py [--size MiB] [--ks 3,4,8] [--samples N]
       [--level avx2|...] [--works encode,rebuild2] [--layouts bytes,unaligned]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SAMPLE_SECONDS = 0.005

WORKS = ["encode p=1", "encode p=2", "encode_into p=2", "rebuild 1 data p=1",
         "rebuild 1 data p=2", "rebuild 2 data p=2", "rebuild_into 2 data p=2"]
LAYOUTS = ["bytes", "bytearray", "memoryview", "one-buffer views", "unaligned views"]

Buffer = bytes | bytearray | memoryview


def make_shards(layout: str, k: int, size: int) -> list[Buffer]:
    """k shards of distinct random bytes, held as `layout` says."""
    if layout == "bytes":
        return [os.urandom(size) for _ in range(k)]
    if layout == "bytearray":
        return [bytearray(os.urandom(size)) for _ in range(k)]
    if layout == "memoryview":
        return [memoryview(os.urandom(size)) for _ in range(k)]
    if layout == "one-buffer views":
        whole = memoryview(os.urandom(k * size))
        return [whole[i * size:(i + 1) * size] for i in range(k)]
    if layout == "unaligned views":
        return [memoryview(os.urandom(size + 1))[1:] for _ in range(k)]
    raise SystemExit(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")


def work_call(work: str, data: list[Buffer], size: int) -> Callable[[], object]:
    """The call that does `work` on the data shards."""
    import parity

    k = len(data)
    if work == "encode p=1":
        return lambda: parity.encode(data, 1)
    if work == "encode p=2":
        return lambda: parity.encode(data, 2)
    if work == "encode_into p=2":
        outs = [bytearray(size), bytearray(size)]
        return lambda: parity.encode_into(data, outs)
    nparity = 1 if work.endswith("p=1") else 2
    full: list[Buffer | None] = [*data, *parity.encode(data, nparity)]
    lost = [0] if " 1 data" in work else [0, k - 1]
    shards = [None if i in lost else s for i, s in enumerate(full)]
    if work.startswith("rebuild_into"):
        out: list[bytearray | None] = [bytearray(size) if i in lost else None
                                       for i in range(len(full))]
        return lambda: parity.reconstruct_into(shards, nparity, out)
    return lambda: parity.reconstruct(shards, nparity)


class PyBuffer(ctypes.Structure):
    """CPython's Py_buffer, to read the address of any (also read-only) buffer."""

    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


def buffer_address(obj: Buffer) -> int:
    """The address of obj's bytes; obj must stay alive while the address is used."""
    view = PyBuffer()
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(PyBuffer), ctypes.c_int]
    if get(obj, ctypes.byref(view), 0) != 0:
        raise RuntimeError("cannot read a shard's address")
    address = view.buf
    ctypes.pythonapi.PyBuffer_Release.argtypes = [ctypes.POINTER(PyBuffer)]
    ctypes.pythonapi.PyBuffer_Release(ctypes.byref(view))
    assert isinstance(address, int)
    return address


def memcpy_call(data: Sequence[Buffer]) -> Callable[[], object]:
    """glibc memcpy (ctypes.memmove) of the same input buffers into one preallocated,
    already touched buffer."""
    dst = bytearray(sum(len(d) for d in data))
    dst_addr = buffer_address(dst)
    srcs = [(buffer_address(d), len(d)) for d in data]

    def copy() -> None:
        pos = dst_addr
        for addr, n in srcs:
            ctypes.memmove(pos, addr, n)
            pos += n
        # Referring to data and dst keeps the buffers alive as long as the closure.
        assert len(dst) >= pos - dst_addr and data

    return copy


def zfec_call(data: list[Buffer], nparity: int) -> Callable[[], object] | None:
    try:
        import zfec  # type: ignore[import-not-found]
    except ImportError:
        return None
    k = len(data)
    encoder = zfec.Encoder(k, k + nparity)
    blocks = [bytes(s) for s in data]
    return lambda: encoder.encode(blocks, list(range(k, k + nparity)))


def loops_for(call: Callable[[], object]) -> int:
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(SAMPLE_SECONDS / once))


def sample(call: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return (time.perf_counter() - start) / loops


def run_row(k: int, work: str, layout: str, size: int, samples: int) -> dict[str, object]:
    """Measure one row in this (fresh) process."""
    import resource

    import parity

    data = make_shards(layout, k, size)
    call = work_call(work, data, size)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    first_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    copy = memcpy_call(data)
    loops, copy_loops = loops_for(call), loops_for(copy)
    ours: list[float] = []
    base: list[float] = []
    calls = 0
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(samples):
        ours.append(sample(call, loops))
        calls += loops
        base.append(sample(copy, copy_loops))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    row: dict[str, object] = {
        "k": k, "work": work, "layout": layout, "level": parity.simd_level(),
        "bytes": k * size, "median": statistics.median(ours), "best": min(ours),
        "memcpy_median": statistics.median(base), "memcpy_best": min(base),
        "first": first, "first_faults": first_faults,
        "faults_per_call": faults / (calls + samples * copy_loops),
    }
    if layout == "bytes" and work.startswith("encode p="):
        zf = zfec_call(data, int(work[-1]))
        if zf is not None:
            zf_loops = loops_for(zf)
            row["zfec_best"] = min(sample(zf, zf_loops) for _ in range(samples))
    return row


@dataclass
class Options:
    size: int
    ks: list[int]
    samples: int
    level: str | None
    works: list[str]
    layouts: list[str]


def fresh_row(opts: Options, k: int, work: str, layout: str) -> dict[str, object]:
    """Run one row in a subprocess of its own."""
    env = dict(os.environ)
    if opts.level:
        env["PARITY_SIMD_LEVEL"] = opts.level
    spec = json.dumps({"k": k, "work": work, "layout": layout, "size": opts.size,
                       "samples": opts.samples})
    out = subprocess.run([sys.executable, __file__, "--row", spec], env=env, check=True,
                         capture_output=True, text=True).stdout
    row: dict[str, object] = json.loads(out)
    return row


def gbps(nbytes: object, seconds: object) -> float:
    assert isinstance(nbytes, int) and isinstance(seconds, float)
    return nbytes / seconds / 1e9


def print_row(row: dict[str, object]) -> None:
    n = row["bytes"]
    ours, mem = gbps(n, row["best"]), gbps(n, row["memcpy_best"])
    median_ratio = gbps(n, row["median"]) / gbps(n, row["memcpy_median"])
    zf = f"zfec {gbps(n, row['zfec_best']):6.2f}" if "zfec_best" in row else ""
    print(f"k={row['k']} {row['work']:<24} {row['layout']:<17} {ours:7.2f} {mem:7.2f} "
          f"{ours / mem:5.2f}x {median_ratio:5.2f}x {gbps(n, row['first']):7.2f} "
          f"{row['first_faults']:6} {row['faults_per_call']:6.1f}  {zf}")


def parse_list(text: str | None, known: list[str], what: str) -> list[str]:
    if not text:
        return known
    picked = [name for name in known
              if any(part.strip() and part.strip() in name for part in text.split(","))]
    if not picked:
        raise SystemExit(f"no {what} matches {text!r}; choose from {', '.join(known)}")
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1.0, help="shard size in MiB")
    parser.add_argument("--ks", default="3", help="data shard counts, comma separated")
    parser.add_argument("--samples", type=int, default=21,
                        help="samples of ~5 ms per side and row")
    parser.add_argument("--level", default=None,
                        help="SIMD level to pin (PARITY_SIMD_LEVEL; default: dispatched)")
    parser.add_argument("--works", default=None,
                        help="works to run, comma-separated substrings of: " + ", ".join(WORKS))
    parser.add_argument("--layouts", default=None,
                        help="layouts, comma-separated substrings of: " + ", ".join(LAYOUTS))
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        spec = json.loads(args.row)
        print(json.dumps(run_row(spec["k"], spec["work"], spec["layout"], spec["size"],
                                 spec["samples"])))
        return 0
    opts = Options(size=int(args.size * 1024 * 1024), ks=[int(k) for k in args.ks.split(",")],
                   samples=args.samples, level=args.level,
                   works=parse_list(args.works, WORKS, "work"),
                   layouts=parse_list(args.layouts, LAYOUTS, "layout"))
    first = True
    for k in opts.ks:
        for work in opts.works:
            for layout in opts.layouts:
                row = fresh_row(opts, k, work, layout)
                if first:
                    print(f"parity {row['level']}, shards of {opts.size / 2**20:g} MiB, every "
                          f"row in a fresh process; GB/s of data bytes per call, "
                          f"best of {opts.samples} samples taken alternately with memcpy of "
                          f"the same input (ratio of the best, then of the medians)")
                    print(f"{'work':<28} {'layout':<17} {'GB/s':>7} {'memcpy':>7} "
                          f"{'ratio':>6} {'median':>6} {'1st':>7} {'1st pf':>6} "
                          f"{'pf/call':>6}  others (GB/s)")
                    first = False
                print_row(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
