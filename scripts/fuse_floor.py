#!/usr/bin/env python3
"""The floor of a pyfuse3 filesystem on this machine: bench_fs's per-request rows against
a filesystem that answers from dicts.

`floor` is a minimal pyfuse3 filesystem on trio (in memory, no nasfs code): one top-level
folder (`bench`, as the daemon's share) and whatever the loads make below it. It is mounted
with the options the daemon uses (default_permissions, allow_other, no writeback cache),
answers FLUSH with ENOSYS and getxattr with ENODATA as nasfs does, and gives the kernel
the timeouts nasfs gives: 60 s for entries and attributes below the top-level folder, and
for the top-level folder itself entry timeout 0 and attribute timeout 1 s (nasfs's shadow
rule for share folders). `floor-cached` is the same with 60 s for the top-level folder too,
so the difference between the two is what the shadow rule's round trip costs. No
pyfuse3 filesystem can be faster than `floor` at these rows on this machine: whatever
nasfs takes beyond it is nasfs's own, the rest is pyfuse3's and the kernel's.

Rows (bench_fs's functions, the same order: per repetition create, cold walk, warm walk;
all unlinks after all creates), every target in turn, rotated per repetition; each row
prints files/s, the serving process's CPU seconds per file (from /proc, which the load
of other jobs does not change much) and the FUSE requests per file it received (counted
by the serving process itself: the floor's handlers, or the daemon's wrapped handlers
with NASFS_BENCH_COUNT, read with SIGUSR1 before and after the row):

    create+write 4096 B+close   --files files in a new folder
    stat walk, cold / warm      scandir + stat of each (cold: page cache and dentries
                                dropped; nasfs also restarts its daemon, as bench_fs does)
    stat walk, warm, from inside  the same with the folder as working directory and
                                relative names (no path walk through the share folder)
    unlink                      all of them (nasfs: to the trash; the floor: gone)

    .venv/bin/python scripts/fuse_floor.py [--quick] [--files 2000] [--reps 3]
        [--targets native,floor,floor-cached,nasfs p=1] [--dir /var/tmp]
    .venv/bin/python scripts/fuse_floor.py serve MOUNTPOINT COUNTS [--cached]

Needs root (drop_caches, allow_other). Medians of the repetitions; ratios to native.
"""

from __future__ import annotations

import argparse
import collections
import errno
import json
import os
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench_fs import create_files, delete_files, rotated, stat_walk
from bench_fs_targets import (
    NasfsTarget,
    Target,
    drop_caches,
    stop_process,
    unmount,
    wait_for_mount,
)

REPO = Path(__file__).resolve().parent.parent
SHARE = b"bench"
ROOT = 1
ENTRY_TIMEOUT = 60.0  # nasfs.policy.gate.timeouts.ENTRY_TIMEOUT
VOLATILE = (0.0, 1.0)  # nasfs's share folders: entry timeout 0, attributes 1 s
COUNTS_WAIT_S = 30.0
ROOT_LOOKUPS = "lookup in the root (share names)"  # the key bench_fs_targets counts them by


# -- the floor filesystem (runs in its own process: `serve`) -------------------------------

@dataclass
class Node:
    mode: int
    uid: int
    gid: int
    parent: int
    nlink: int = 1
    size: int = 0
    times_ns: int = field(default_factory=time.time_ns)
    data: bytearray = field(default_factory=bytearray)
    children: dict[bytes, int] = field(default_factory=dict)


def serve(mountpoint: Path, counts: Path, cached: bool) -> int:
    import pyfuse3
    import trio
    from pyfuse3 import EntryAttributes, FileInfo, FUSEError

    requests: collections.Counter[str] = collections.Counter()

    class Floor(pyfuse3.Operations):
        supports_dot_lookup = False
        enable_writeback_cache = False
        enable_acl = False

        def __init__(self) -> None:
            super().__init__()
            self.nodes: dict[int, Node] = {ROOT: Node(stat.S_IFDIR | 0o755, 0, 0, ROOT, 2)}
            self.next_ino = ROOT + 1
            self._add(ROOT, SHARE, stat.S_IFDIR | 0o777, 0, 0)

        def _add(self, parent: int, name: bytes, mode: int, uid: int, gid: int) -> int:
            ino = self.next_ino
            self.next_ino += 1
            self.nodes[ino] = Node(mode, uid, gid, parent, 2 if stat.S_ISDIR(mode) else 1)
            folder = self.nodes[parent]
            folder.children[name] = ino
            folder.times_ns = time.time_ns()
            return ino

        def _timeouts(self, ino: int) -> tuple[float, float]:
            if not cached and self.nodes[ino].parent == ROOT and ino != ROOT:
                return VOLATILE
            return ENTRY_TIMEOUT, ENTRY_TIMEOUT

        def _entry(self, ino: int) -> EntryAttributes:
            n = self.nodes[ino]
            e = EntryAttributes()
            e.st_ino = ino  # type: ignore[assignment]
            e.generation = 0
            e.entry_timeout, e.attr_timeout = self._timeouts(ino)
            e.st_mode = n.mode  # type: ignore[assignment]
            e.st_nlink = n.nlink
            e.st_uid = n.uid
            e.st_gid = n.gid
            e.st_size = n.size
            e.st_blksize = 4096
            e.st_blocks = (n.size + 511) // 512
            e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = n.times_ns
            return e

        async def lookup(self, parent_inode: int, name: bytes, ctx: Any) -> EntryAttributes:
            requests["lookup"] += 1
            if parent_inode == ROOT:
                requests[ROOT_LOOKUPS] += 1
            ino = self.nodes[parent_inode].children.get(name)
            if ino is not None:
                return self._entry(ino)
            e = EntryAttributes()
            e.st_ino = 0  # type: ignore[assignment]
            volatile = not cached and parent_inode == ROOT
            e.entry_timeout = 0.0 if volatile else ENTRY_TIMEOUT
            return e

        async def forget(self, inode_list: Any) -> None:
            requests["forget"] += 1

        async def getattr(self, inode: int, ctx: Any) -> EntryAttributes:
            requests["getattr"] += 1
            return self._entry(inode)

        async def setattr(self, inode: int, attr: Any, fields: Any, fh: Any,
                          ctx: Any) -> EntryAttributes:
            requests["setattr"] += 1
            n = self.nodes[inode]
            if fields.update_size:
                del n.data[attr.st_size:]
                n.data.extend(bytes(attr.st_size - len(n.data)))
                n.size = attr.st_size
            if fields.update_mode:
                n.mode = stat.S_IFMT(n.mode) | stat.S_IMODE(attr.st_mode)
            if fields.update_uid:
                n.uid = attr.st_uid
            if fields.update_gid:
                n.gid = attr.st_gid
            n.times_ns = time.time_ns()
            return self._entry(inode)

        async def mkdir(self, parent_inode: int, name: bytes, mode: int,
                        ctx: Any) -> EntryAttributes:
            requests["mkdir"] += 1
            ino = self._add(parent_inode, name, stat.S_IFDIR | (mode & ~ctx.umask), ctx.uid,
                            ctx.gid)
            return self._entry(ino)

        async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                         ctx: Any) -> tuple[FileInfo, EntryAttributes]:
            requests["create"] += 1
            ino = self._add(parent_inode, name, stat.S_IFREG | (mode & ~ctx.umask), ctx.uid,
                            ctx.gid)
            return FileInfo(fh=ino, keep_cache=True), self._entry(ino)

        async def open(self, inode: int, flags: int, ctx: Any) -> FileInfo:
            requests["open"] += 1
            return FileInfo(fh=inode, keep_cache=True)

        async def read(self, fh: int, off: int, size: int) -> bytes:
            requests["read"] += 1
            return bytes(self.nodes[fh].data[off:off + size])

        async def write(self, fh: int, off: int, buf: bytes) -> int:
            requests["write"] += 1
            n = self.nodes[fh]
            if off > len(n.data):
                n.data.extend(bytes(off - len(n.data)))
            n.data[off:off + len(buf)] = buf
            n.size = len(n.data)
            n.times_ns = time.time_ns()
            return len(buf)

        async def release(self, fh: int) -> None:
            requests["release"] += 1

        async def unlink(self, parent_inode: int, name: bytes, ctx: Any) -> None:
            requests["unlink"] += 1
            folder = self.nodes[parent_inode]
            ino = folder.children.pop(name)
            folder.times_ns = time.time_ns()
            # The floor keeps no inode the kernel may still hold: the data goes at once.
            self.nodes[ino].nlink = 0
            self.nodes[ino].data = bytearray()

        async def rmdir(self, parent_inode: int, name: bytes, ctx: Any) -> None:
            requests["rmdir"] += 1
            folder = self.nodes[parent_inode]
            ino = folder.children[name]
            if self.nodes[ino].children:
                raise FUSEError(errno.ENOTEMPTY)
            del folder.children[name]

        async def opendir(self, inode: int, ctx: Any) -> int:
            requests["opendir"] += 1
            return inode

        async def readdir(self, fh: int, start_id: int, token: Any) -> None:
            requests["readdir"] += 1
            entries = list(self.nodes[fh].children.items())
            for i in range(start_id, len(entries)):
                name, ino = entries[i]
                if not pyfuse3.readdir_reply(token, name, self._entry(ino), i + 1):
                    return

        async def releasedir(self, fh: int) -> None:
            requests["releasedir"] += 1

        async def getxattr(self, inode: int, name: bytes, ctx: Any) -> bytes:
            requests["getxattr"] += 1
            raise FUSEError(errno.ENODATA)

        async def statfs(self, ctx: Any) -> Any:
            requests["statfs"] += 1
            out = pyfuse3.StatvfsData()
            out.f_bsize = out.f_frsize = 4096
            out.f_blocks = out.f_bfree = out.f_bavail = 1 << 30
            out.f_files = out.f_ffree = out.f_favail = 1 << 30
            out.f_namemax = 255
            return out

    def dump(signum: int, frame: FrameType | None) -> None:
        # Runs on the trio thread between requests (trio's wakeup fd wakes it for signals).
        part = counts.with_suffix(".part")
        part.write_text(json.dumps(requests))
        part.rename(counts)

    signal.signal(signal.SIGUSR1, dump)
    options = set(pyfuse3.default_options) | {"default_permissions", "allow_other",
                                              "fsname=nasfs-floor", "subtype=floor"}
    pyfuse3.init(Floor(), str(mountpoint), options)
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)
    return 0


# -- the benchmark (the driver process) -----------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_counts(pid: int, counts: Path) -> collections.Counter[str]:
    """The serving process's request counts so far (it writes them on SIGUSR1)."""
    counts.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + COUNTS_WAIT_S
    while not counts.exists():
        if time.monotonic() > deadline:
            sys.exit(f"fuse_floor: process {pid} wrote no counts to {counts}")
        time.sleep(0.01)
    return collections.Counter(json.loads(counts.read_text()))


def walk_inside(d: Path) -> None:
    """The stat walk of a process whose working folder is `d` (names relative to it): its
    path walks start below the share folder, so they never revalidate that entry."""
    back = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    os.chdir(d)
    try:
        for entry in os.scandir("."):
            os.stat(entry.name)
    finally:
        os.fchdir(back)
        os.close(back)


class FloorTarget(Target):
    """The floor filesystem served by `fuse_floor.py serve` in a process of its own."""

    def __init__(self, base: Path, cached: bool) -> None:
        self.name = "floor-cached" if cached else "floor"
        self.cached = cached
        self.base = base / self.name
        self.base.mkdir()
        self.mnt = self.base / "mnt"
        self.mnt.mkdir()
        self.root = self.mnt / SHARE.decode()
        self.counts_file = self.base / "counts.json"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, __file__, "serve", str(self.mnt), str(self.counts_file)]
        self.proc = subprocess.Popen(argv + (["--cached"] if self.cached else []))
        wait_for_mount(self.proc, self.mnt, self.name)

    def counts(self) -> collections.Counter[str]:
        assert self.proc is not None
        return read_counts(self.proc.pid, self.counts_file)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        unmount(self.mnt)
        rc = stop_process(self.proc, self.mnt, grace_s=30.0)
        self.proc = None
        return rc


class CountedNasfs(NasfsTarget):
    """bench_fs's nasfs target whose daemon counts its FUSE requests (NASFS_BENCH_COUNT)."""

    def __init__(self, base: Path) -> None:
        super().__init__(base, members=4, nparity=1)
        self.counts_file = self.base / "counts.json"

    def serve(self) -> None:
        os.environ["NASFS_BENCH_COUNT"] = str(self.counts_file)
        try:
            super().serve()
        finally:
            del os.environ["NASFS_BENCH_COUNT"]

    def counts(self) -> collections.Counter[str]:
        assert self.proc is not None
        return read_counts(self.proc.pid, self.counts_file)


@dataclass
class Row:
    name: str
    rates: dict[str, list[float]] = field(default_factory=dict)
    requests: dict[str, list[collections.Counter[str]]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # serving process, s per file


class Floor:
    def __init__(self, targets: list[Target], files: int, reps: int) -> None:
        self.targets = targets
        self.files = files
        self.reps = reps
        self.rows: dict[str, Row] = {}

    def order(self, rep: int) -> list[Target]:
        return rotated(self.targets, rep)

    def measure(self, rep: int, name: str, work: Callable[[Path], None], *,
                cold: bool = False, settle: bool = True) -> None:
        row = self.rows.setdefault(name, Row(name))
        for target in self.order(rep):
            if cold:
                target.cold()
            elif settle:
                drop_caches()
            counts: Callable[[], collections.Counter[str]] | None = getattr(
                target, "counts", None)
            before = counts() if counts else None
            proc: subprocess.Popen[bytes] | None = getattr(target, "proc", None)
            cpu_before = cpu_seconds(proc.pid) if proc else 0.0
            folder = target.root / f"rep{rep}"
            start = time.perf_counter()
            work(folder)
            seconds = time.perf_counter() - start
            row.rates.setdefault(target.name, []).append(self.files / seconds)
            if proc:
                row.cpu.setdefault(target.name, []).append(
                    (cpu_seconds(proc.pid) - cpu_before) / self.files)
            if counts and before is not None:
                row.requests.setdefault(target.name, []).append(counts() - before)

    def run(self) -> None:
        n = self.files
        for rep in range(self.reps):
            for target in self.targets:
                (target.root / f"rep{rep}").mkdir()
            self.measure(rep, "create+write 4096 B+close",
                         lambda d: create_files(d / "small", n, 4096))
            self.measure(rep, "stat walk, cold", lambda d: stat_walk(d / "small"), cold=True)
            self.measure(rep, "stat walk, warm", lambda d: stat_walk(d / "small"),
                         settle=False)
            self.measure(rep, "stat walk, warm, from inside", lambda d: walk_inside(d / "small"),
                         settle=False)
        for rep in range(self.reps):
            self.measure(rep, "unlink", lambda d: delete_files(d / "small", n))

    def print_tables(self) -> None:
        names = [t.name for t in self.targets]
        print(f"{'row':<28}" + "".join(f"{n:>20}" for n in names))
        for row in self.rows.values():
            native = statistics.median(row.rates["native"])
            cells = []
            for n in names:
                med = statistics.median(row.rates[n])
                cells.append(f"{med:>20,.0f}" if n == "native"
                             else f"{med:>11,.0f} ({med / native:5.3f}x)")
            print(f"{row.name:<28}" + "".join(cells))
        print(f"\nmedians of {self.reps} repetitions of {self.files} files; each one:")
        for row in self.rows.values():
            print(f"  {row.name}: " + "; ".join(
                f"{n} " + ", ".join(f"{v:,.0f}" for v in row.rates[n]) for n in names))
        print("\nCPU of the serving process (user + system, all threads), µs per file, "
              "median of the repetitions:")
        for row in self.rows.values():
            print(f"  {row.name:<28} " + "; ".join(
                f"{n} {statistics.median(v) * 1e6:,.0f}" for n, v in row.cpu.items()))
        print("\nFUSE requests per file (repetitions summed), by kind:")
        for row in self.rows.values():
            for n, per_rep in row.requests.items():
                total: collections.Counter[str] = sum(per_rep, collections.Counter())
                ops = self.files * len(per_rep)
                kinds = ", ".join(f"{k} {v / ops:.2f}" for k, v in total.most_common())
                # The root's lookups are counted twice: as lookups and apart.
                every = sum(v for k, v in total.items() if k != ROOT_LOOKUPS)
                print(f"  {row.name:<28} {n:<14} {every / ops:5.2f}  ({kinds})")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        p = argparse.ArgumentParser()
        p.add_argument("serve")
        p.add_argument("mountpoint", type=Path)
        p.add_argument("counts", type=Path)
        p.add_argument("--cached", action="store_true")
        a = p.parse_args()
        return serve(a.mountpoint, a.counts, a.cached)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 files")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--targets", default="native,floor,floor-cached,nasfs p=1",
                        help="comma-separated subset of: native, floor, floor-cached, nasfs p=1")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("fuse_floor: run as root (it drops the page cache and mounts FUSE)")
    files = args.files or (300 if args.quick else 2000)
    sys.path.insert(0, str(REPO))
    base = Path(tempfile.mkdtemp(prefix="nasfs-floor-", dir=args.dir))
    os.chmod(base, 0o755)
    makers: dict[str, Callable[[], Target]] = {
        "native": lambda: Target(base),
        "floor": lambda: FloorTarget(base, cached=False),
        "floor-cached": lambda: FloorTarget(base, cached=True),
        "nasfs p=1": lambda: CountedNasfs(base),
    }
    wanted = {w.strip() for w in args.targets.split(",")} | {"native"}
    targets = [make() for name, make in makers.items() if name in wanted]
    started: list[Target] = []
    rcs: dict[str, int] = {}
    bench = Floor(targets, files, args.reps)
    try:
        for target in targets:
            target.start()
            started.append(target)
        bench.run()
    finally:
        for target in started:
            rcs[target.name] = target.stop()
        shutil.rmtree(base, ignore_errors=True)
    load = os.getloadavg()
    print(f"fuse_floor: {files} files of 4096 B, {args.reps} repetitions, on {args.dir}; "
          f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    bench.print_tables()
    bad = {n: rc for n, rc in rcs.items() if rc != 0}
    if bad:
        print(f"fuse_floor: serving processes exited with {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
