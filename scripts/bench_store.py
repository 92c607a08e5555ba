#!/usr/bin/env python3
"""Benchmark of nasfs.store against plain files on the same disk, in the same run.

Measures put and get of SIZE MiB in 1 MiB chunks and of COUNT chunks of 4 KiB, healthy
and degraded (one member directory removed), and the rebuild rate against the rate at
which the survivors' segment files can be read. Every ratio is store / native per data
byte. Native write = the same chunks as files in one directory, written in the same batch
sizes as the puts, each file fsynced and the directory fsynced per batch (the same
durability a returned put gives). Reads are cold on both sides: page caches are dropped
(echo 3 > /proc/sys/vm/drop_caches, needs root) before every read phase; without root the
script says so and both sides read warm.

Usage: scripts/bench_store.py [--size-mib 512] [--count 20000] [--members 4] [--parity 1]
                              [--dir /work/tmp] [--batch-mib 32] [--small-batch 256]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nasfs.store import Store
from nasfs.store.label import fsync_dir

MiB = 1 << 20


def drop_caches() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def make_chunks(n: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    block = rng.randbytes(size + n)  # distinct chunks cheaply: shifted windows of one block
    return [block[i : i + size] for i in range(n)] if size < 65536 else [
        rng.randbytes(size) for _ in range(n)]


def native_write(d: Path, chunks: list[bytes], batch: int) -> float:
    d.mkdir()
    t = time.perf_counter()
    for start in range(0, len(chunks), batch):
        fds = []
        for i in range(start, min(start + batch, len(chunks))):
            fd = os.open(d / f"{i:08d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, chunks[i])
            fds.append(fd)
        for fd in fds:
            os.fsync(fd)
            os.close(fd)
        fsync_dir(d)
    return time.perf_counter() - t


def native_read(d: Path, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        with open(d / f"{i:08d}", "rb") as fh:
            fh.read()
    return time.perf_counter() - t


def store_put(store: Store, chunks: list[bytes], batch: int) -> tuple[float, list[bytes]]:
    ids: list[bytes] = []
    t = time.perf_counter()
    for start in range(0, len(chunks), batch):
        ids += store.put(chunks[start : start + batch])
    return time.perf_counter() - t, ids


def store_get(store: Store, ids: list[bytes]) -> float:
    t = time.perf_counter()
    for cid in ids:
        store.get(cid)
    return time.perf_counter() - t


def survivors_read(members: list[Path]) -> tuple[float, int]:
    total = 0
    t = time.perf_counter()
    for m in members:
        for f in sorted((m / "nasfs" / "segments").glob("*.seg")):
            with open(f, "rb", buffering=0) as fh:
                while chunk := fh.read(4 * MiB):
                    total += len(chunk)
    return time.perf_counter() - t, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--parity", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent.parent.parent,
                    help="where the temporary members go (default: beside the checkout)")
    ap.add_argument("--batch-mib", type=int, default=32, help="1 MiB chunks per put")
    ap.add_argument("--small-batch", type=int, default=256, help="4 KiB chunks per put")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    cold = drop_caches()
    rows: list[tuple[str, float, float]] = []

    def row(name: str, nbytes: int, t_store: float, t_native: float) -> None:
        s, n = nbytes / t_store / MiB, nbytes / t_native / MiB
        rows.append((name, s, n))
        print(f"{name:<34} store {s:8.1f} MiB/s   native {n:8.1f} MiB/s   ratio {s / n:5.2f}",
              flush=True)

    try:
        members = [root / f"m{i}" for i in range(args.members)]
        for m in members:
            m.mkdir()
        Store.create(members, args.parity)
        workloads = [
            ("1 MiB chunks", make_chunks(args.size_mib, MiB, 1), args.batch_mib),
            ("4 KiB chunks", make_chunks(args.count, 4096, 2), args.small_batch),
        ]
        results = []
        with Store.open(members) as store:
            for name, chunks, batch in workloads:
                nbytes = sum(len(c) for c in chunks)
                t_native = native_write(root / f"native-{name[:5].strip()}", chunks, batch)
                t_store, ids = store_put(store, chunks, batch)
                row(f"put {name}", nbytes, t_store, t_native)
                results.append((name, chunks, ids, nbytes))
        for degraded in (False, True):
            if degraded:
                shutil.rmtree(members[1])
            with Store.open(members) as store:
                for name, chunks, ids, nbytes in results:
                    drop_caches()
                    t_native = native_read(root / f"native-{name[:5].strip()}", len(chunks))
                    drop_caches()
                    t_store = store_get(store, ids)
                    label = "degraded" if degraded else "healthy"
                    row(f"get {name} ({label})", nbytes, t_store, t_native)
                if degraded:
                    survivors = [m for i, m in enumerate(members) if i != 1]
                    drop_caches()
                    t_read, read_bytes = survivors_read(survivors)
                    drop_caches()
                    t = time.perf_counter()
                    report = store.rebuild(1, root / "new")
                    t_rebuild = time.perf_counter() - t
                    # Rebuild reads what the survivors hold: compare per survivor byte read.
                    row("rebuild (vs reading survivors)", read_bytes, t_rebuild, t_read)
                    print(f"  rebuilt {report.bytes_written / MiB:.0f} MiB onto the new member")
        print(f"\nreads were {'cold (page cache dropped)' if cold else 'WARM (not root)'}; "
              f"{args.members} members, parity {args.parity}, under {root.parent}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
