#!/usr/bin/env python3
"""Space benchmark: the cost of space accounting, writing beside the reclaimer, and how fast
purged space comes back. In-process (Filesystem on a Store over 4 member directories of one
temporary directory, single parity): no FUSE, so the rows measure nasfs, not the kernel.

Rows (each a ratio or a time measured in the same run):
- accounting: sequential write (then commit) with space accounting against the same with a
  space account that never checks (ratio = with / without; target >= 0.97, i.e. <= 3 %);
- reclaimer: sequential write while the reclaimer compacts dead segments, paced as the
  daemon paces it, against the same write with nothing else running (target >= 0.8);
- purge-to-free: seconds from deleting SIZE of files (the purge commits) until the store's
  free space has grown by that much through the reclaimer's compaction.

    .venv/bin/python scripts/bench_space.py [--size-mib 1024] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio

from nasfs.daemon.methods.space import PAUSE_FACTOR
from nasfs.fs import Filesystem
from nasfs.fs.filesystem import ROOT_CALLER
from nasfs.fs.schema import ROOT_INODE
from nasfs.store import Store
from nasfs.store.space import SpaceAccount

BLOCK = 1 << 20


class UncheckedSpace(SpaceAccount):
    """The baseline: costs computed, nothing measured or refused."""

    def charge(self, raw: int) -> None:
        return None

    def uncharge(self, raw: int) -> None:
        return None


async def write_file(fs: Filesystem, name: bytes, size: int, seed: int) -> int:
    a = fs.create(ROOT_INODE, name, stat.S_IFREG | 0o644, ROOT_CALLER)
    block = bytearray(os.urandom(BLOCK))
    for i in range(size // BLOCK):
        # Every block differs: records are deduplicated.
        block[:16] = seed.to_bytes(8, "little") + i.to_bytes(8, "little")
        await fs.write(a.ino, i * BLOCK, bytes(block))
    await fs.release(a.ino)
    fs.forget(a.ino, 1)  # no kernel holds it: an unlink purges it at once
    return a.ino


async def timed_write(fs: Filesystem, name: bytes, size: int, seed: int) -> float:
    start = time.perf_counter()
    await write_file(fs, name, size, seed)
    await fs.commit()
    return time.perf_counter() - start


def new_array(root: Path) -> list[Path]:
    members = [root / f"m{i}" for i in range(4)]
    for m in members:
        m.mkdir()
    # Small segments, so that deleting half the data leaves segments worth compacting.
    Store.create(members, 1, segment_bytes=64 << 20)
    return members


def paced(stop: threading.Event) -> Any:
    def pace(seconds: float) -> None:
        if stop.is_set():
            raise InterruptedError
        time.sleep(seconds * PAUSE_FACTOR)

    return pace


async def bench_accounting(root: Path, size: int) -> float:
    speeds = {}
    for label in ("unchecked", "accounted"):
        where = root / label
        where.mkdir()
        with Store.open(new_array(where)) as store:
            if label == "unchecked":
                store.space = UncheckedSpace(store.present, store.member_count, store.nparity)
            fs = Filesystem.open(store)
            speeds[label] = size / await timed_write(fs, b"seq", size, 1)
            await fs.close()
        shutil.rmtree(where)
    return speeds["accounted"] / speeds["unchecked"]


async def make_dead(fs: Filesystem, size: int, prefix: str, seed: int) -> None:
    """Write 2 x size in interleaved files and delete every other one: half-dead segments."""
    for i in range(8):
        await write_file(fs, f"{prefix}{i}".encode(), size // 4, seed + i)
    await fs.commit()
    for i in range(0, 8, 2):
        fs.unlink(ROOT_INODE, f"{prefix}{i}".encode(), ROOT_CALLER)
    await fs.commit()


async def bench_reclaimer(root: Path, size: int) -> float:
    where = root / "reclaim"
    where.mkdir()
    with Store.open(new_array(where)) as store:
        fs = Filesystem.open(store)
        await make_dead(fs, size, "a", 100)
        alone = size / await timed_write(fs, b"alone", size, 2)
        await make_dead(fs, size, "b", 200)
        stop = threading.Event()

        def reclaim() -> None:
            try:
                while not stop.is_set():
                    store.compact(0.3, pace=paced(stop))
                    time.sleep(0.05)
            except InterruptedError:
                return

        worker = threading.Thread(target=reclaim)
        worker.start()
        try:
            beside = size / await timed_write(fs, b"beside", size, 3)
        finally:
            stop.set()
            worker.join()
        await fs.close()
    shutil.rmtree(where)
    return beside / alone


async def bench_purge_to_free(root: Path, size: int) -> float:
    where = root / "purge"
    where.mkdir()
    with Store.open(new_array(where)) as store:
        fs = Filesystem.open(store)
        for i in range(4):
            await write_file(fs, f"p{i}".encode(), size // 4, 300 + i)
        await fs.commit()
        store.seal_segment()
        before = store.capacity().free_bytes
        start = time.perf_counter()
        for i in range(4):
            fs.unlink(ROOT_INODE, f"p{i}".encode(), ROOT_CALLER)
        await fs.commit()  # what a purge does before it answers
        stop = threading.Event()
        while store.capacity().free_bytes < before + size * 95 // 100:
            report = await trio.to_thread.run_sync(lambda: store.compact(0.5,
                                                                         pace=paced(stop)))
            if not report.segments_compacted:
                break
        elapsed = time.perf_counter() - start
        got = store.capacity().free_bytes - before
        await fs.close()
    shutil.rmtree(where)
    print(f"  (freed {got >> 20} MiB of {size >> 20} MiB)")
    return elapsed


async def main_async(size: int, base: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="nasfs-bench-space-", dir=base))
    try:
        ratio = await bench_accounting(root, size)
        print(f"accounting: accounted / unchecked sequential write = {ratio:.3f} "
              f"(cost {100 * (1 - ratio):.1f} %; target <= 3 %)")
        ratio = await bench_reclaimer(root, size)
        print(f"reclaimer: write beside the reclaimer / alone = {ratio:.3f} (target >= 0.8)")
        seconds = await bench_purge_to_free(root, size)
        print(f"purge-to-free: {size >> 20} MiB purged -> free again in {seconds:.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    if args.size_mib < 4:
        parser.error("--size-mib must be at least 4")
    trio.run(main_async, args.size_mib << 20, args.dir)


if __name__ == "__main__":
    main()
