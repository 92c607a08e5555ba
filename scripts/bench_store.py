#!/usr/bin/env python3
"""Benchmark of nasfs.store against plain files on the same disk, in the same run.

Measures put and get of SIZE MiB in 1 MiB chunks and of COUNT chunks of 4 KiB, healthy
and degraded (one member directory removed), and the rebuild rate against the rate at
which the survivors' segment files can be read. Then maintenance beside SnapRAID (Debian
package `snapraid`, installed with apt-get when missing; --no-snapraid skips it) on the
same data: SIZE MiB of distinct 1 MiB blocks, as files on MEMBERS - PARITY data
directories for SnapRAID: sync, scrub (all blocks), fix of one data directory emptied,
against a scrub of the array and a rebuild of one member. Scrub rates are bytes read
(data and parity) per second, sync the data bytes per second, fix and rebuild the bytes
written back per second. Every ratio is store / native per data
byte. Native write = the same chunks as files in one directory, written in the same batch
sizes as the puts, each file fsynced and the directory fsynced per batch (the same
durability a returned put gives). Reads are cold on both sides: page caches are dropped
(echo 3 > /proc/sys/vm/drop_caches, needs root) before every read phase; without root the
script says so and both sides read warm.

Usage: scripts/bench_store.py [--size-mib 512] [--count 20000] [--members 4] [--parity 1]
                              [--dir /work/tmp] [--batch-mib 32] [--small-batch 256]
                              [--no-snapraid]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def loop_disks(base: Path, count: int, size_bytes: int) -> Iterator[list[Path]]:
    """`count` ext4 filesystems in image files under `base`, loop-mounted: separate
    devices on the one disk (SnapRAID refuses data directories on one device). Both sides
    of the maintenance rows run on them, so both pay the same loop overhead."""
    mounted: list[Path] = []
    try:
        for i in range(count):
            image, mnt = base / f"disk{i}.img", base / f"disk{i}"
            with open(image, "wb") as f:
                f.truncate(size_bytes)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
            mnt.mkdir()
            subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
            mounted.append(mnt)
            (mnt / "lost+found").rmdir()
        yield mounted
    finally:
        for mnt in mounted:
            subprocess.run(["umount", str(mnt)], check=False)
        for i in range(count):
            (base / f"disk{i}.img").unlink(missing_ok=True)


def ensure_snapraid() -> str | None:
    """The snapraid binary, installed from the Debian package when missing (idempotent);
    None when it cannot be had (no root, no network): the rows are then left out."""
    found = shutil.which("snapraid")
    if found is None and os.geteuid() == 0:
        for cmd in (["apt-get", "-y", "-q", "install", "snapraid"],):
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, env={**os.environ,
                                                  "DEBIAN_FRONTEND": "noninteractive"})
            if done.returncode != 0:
                print(f"(apt-get install snapraid failed: {done.stderr.strip()[-200:]})")
        found = shutil.which("snapraid")
    return found


def snapraid_rows(exe: str, root: Path, chunks: list[bytes], mounts: list[Path],
                  parity: int) -> dict[str, tuple[int, float]]:
    """SnapRAID sync, scrub and fix on `chunks` as files on the data disks (the first
    mounts; the parity files go on the last `parity`): {row: (bytes, seconds)}."""
    base = root / "snapraid"
    base.mkdir()
    data_dirs = len(mounts) - parity
    disks = [m / "data" for m in mounts[:data_dirs]]
    for d in disks:
        d.mkdir()
    per_disk = [0] * data_dirs
    for i, c in enumerate(chunks):  # round robin: every disk gets its share
        (disks[i % data_dirs] / f"{i:08d}").write_bytes(c)
        per_disk[i % data_dirs] += len(c)
    names = ["parity", "2-parity"][:parity]
    parity_files = [m / f"{n}.parity" for m, n in zip(mounts[data_dirs:], names, strict=True)]
    conf = base / "snapraid.conf"
    conf.write_text("".join(f"{n} {f}\n" for n, f in zip(names, parity_files, strict=True))
                    + "".join(f"content {m}/snapraid.content\n" for m in mounts[:2])
                    + "".join(f"data d{i} {d}/\n" for i, d in enumerate(disks)))

    def run(*words: str) -> float:
        drop_caches()
        t = time.perf_counter()
        done = subprocess.run([exe, "-c", str(conf), *words],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"snapraid {' '.join(words)}: {done.stderr.strip()[-300:]}")
        return time.perf_counter() - t

    data = sum(per_disk)
    rows = {"snapraid sync": (data, run("sync"))}
    parity_bytes = sum(f.stat().st_size for f in parity_files)
    rows["snapraid scrub (all)"] = (data + parity_bytes, run("scrub", "-p", "100", "-o", "0"))
    for f in disks[1].iterdir():
        f.unlink()
    rows["snapraid fix (one disk)"] = (per_disk[1], run("fix", "-d", "d1"))
    shutil.rmtree(base)
    for d in disks:
        shutil.rmtree(d)
    for f in parity_files:
        f.unlink()
    for m in mounts[:2]:
        for f in m.glob("snapraid.content*"):
            f.unlink()
    return rows


def nasfs_maintenance_rows(root: Path, chunks: list[bytes], mounts: list[Path], parity: int
                           ) -> dict[str, tuple[int, float]]:
    """A scrub of an array holding `chunks` and a rebuild of its second member onto the
    last mount: {row: (bytes, seconds)}."""
    dirs = [m / "member" for m in mounts[:-1]]
    for d in dirs:
        d.mkdir()
    Store.create(dirs, parity)
    with Store.open(dirs) as store:
        for start in range(0, len(chunks), 32):
            store.put(chunks[start : start + 32])
    rows: dict[str, tuple[int, float]] = {}
    with Store.open(dirs) as store:
        drop_caches()
        t = time.perf_counter()
        scrubbed = store.scrub()
        rows["nasfs scrub"] = (scrubbed.bytes_read, time.perf_counter() - t)
    shutil.rmtree(dirs[1])
    target = mounts[-1] / "member"
    target.mkdir()
    with Store.open(dirs) as store:
        drop_caches()
        t = time.perf_counter()
        rebuilt = store.rebuild(1, target)
        rows["nasfs rebuild (one member)"] = (rebuilt.bytes_written, time.perf_counter() - t)
    for d in [*dirs, target]:
        shutil.rmtree(d, ignore_errors=True)
    return rows


def maintenance(args: argparse.Namespace, root: Path, chunks: list[bytes]) -> None:
    """Scrub and rebuild rows beside SnapRAID's sync, scrub and fix, on the same data."""
    data = sum(len(c) for c in chunks)
    # Room for a member's share (or a data disk's), with slack for ext4 and the databases.
    disk_bytes = data // (args.members - args.parity) * 3 // 2 + (192 << 20)
    exe = None if args.no_snapraid else ensure_snapraid()
    with loop_disks(root, args.members + 1, disk_bytes) as mounts:
        rows = nasfs_maintenance_rows(root, chunks, mounts, args.parity)
        if exe is not None:
            rows.update(snapraid_rows(exe, root, chunks, mounts[: args.members],
                                      args.parity))
        elif not args.no_snapraid:
            print("(snapraid is not available: its rows are left out)")
    print(f"\nmaintenance on {len(chunks)} MiB of data, {args.members} members, parity "
          f"{args.parity}")
    for name, (nbytes, seconds) in rows.items():
        print(f"{name:<34} {nbytes / seconds / 1e6:8.1f} MB/s   ({nbytes / MiB:.0f} MiB in "
              f"{seconds:.2f} s)", flush=True)
    for ours, theirs in (("nasfs scrub", "snapraid scrub (all)"),
                         ("nasfs rebuild (one member)", "snapraid fix (one disk)")):
        if ours in rows and theirs in rows:
            mine = rows[ours][0] / rows[ours][1]
            other = rows[theirs][0] / rows[theirs][1]
            print(f"{ours + ' / ' + theirs:<56} {mine / other:5.2f}x")


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
    ap.add_argument("--no-snapraid", action="store_true", help="skip the SnapRAID rows")
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
                    (root / "new").mkdir()  # a rebuild never creates its target
                    t = time.perf_counter()
                    report = store.rebuild(1, root / "new")
                    t_rebuild = time.perf_counter() - t
                    # Rebuild reads what the survivors hold: compare per survivor byte read.
                    row("rebuild (vs reading survivors)", read_bytes, t_rebuild, t_read)
                    print(f"  rebuilt {report.bytes_written / MiB:.0f} MiB onto the new member")
        maintenance(args, root, results[0][1])
        print(f"\nreads were {'cold (page cache dropped)' if cold else 'WARM (not root)'}; "
              f"{args.members} members, parity {args.parity}, under {root.parent}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
