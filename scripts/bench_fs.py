#!/usr/bin/env python3
"""Filesystem benchmark: nasfs against a native directory, mergerfs and pyfuse3's
passthroughfs example, all on the same disk, in one run.

Targets (scripts/bench_fs_targets.py): native ext4 (or whatever the --dir disk holds),
mergerfs over one branch, pyfuse3's passthroughfs example, nasfs p=1 on 4 members and nasfs
p=2 on 6 members, both through the daemon into an everyone-rw share (the gate decides and
logs every access). Rows, each in every target in turn (the order rotates per repetition),
3 repetitions, medians, ratio to native:

    seq write + fsync        one file of --size-mib in 1 MiB writes, then fsync   MB/s
    seq read, cold           that file after the caches are dropped               MB/s
    create+write+close       --files files of --file-size bytes                   files/s
    stat walk, cold / warm   scandir of those files and stat of each              files/s
    unlink                   all of them (nasfs: to the trash)                    files/s
    4 writers at once        4 processes, each a --proc-mib file + fsync          MB/s total

Every block of every file holds different bytes (a counter in every 4 KiB), so nasfs's
deduplication saves nothing. Cold rows drop the page cache, and for nasfs restart the daemon
so its own caches are empty too. All unlink rows run after all create rows, because ext4
creates files much slower for a while after a bulk delete. Needs root (drop_caches, FUSE);
installs mergerfs with apt-get if it is missing and downloads the pyfuse3 sdist with pip.

    .venv/bin/python scripts/bench_fs.py [--quick] [--size-mib 1024] [--files 5000]
        [--proc-mib 256] [--reps 3] [--dir /var/tmp] [--targets native,nasfs p=1]

--quick uses small sizes (32 MiB, 300 files, 4 x 16 MiB) to check the harness end to end.

With --policy it measures the cost of the policy gate instead: the same rows as a non-root
NAS user on a share with an ACL, through the daemon with access logging on, against root on
a bare mount (no gate, no log). Ratio = gated speed / bare speed.
"""

from __future__ import annotations

import argparse
import array
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench_fs_targets import (
    MergerfsTarget,
    NasfsTarget,
    PassthroughTarget,
    Target,
    drop_caches,
    wait_for_mount,
)

REPO = Path(__file__).resolve().parent.parent
BLOCK = 1 << 20
PAGE = 4096
WRITERS = 4


class Stamper:
    """Makes every 4 KiB of everything written distinct: a run salt and a counter."""

    def __init__(self) -> None:
        self.salt = int.from_bytes(os.urandom(4), "little") << 32
        self.counter = 0

    def stamp(self, buf: bytearray) -> None:
        words = memoryview(buf).cast("Q")
        pages = len(buf) // PAGE
        stamps = array.array("Q", range(self.salt + self.counter,
                                        self.salt + self.counter + pages))
        self.counter += pages
        words[:: PAGE // 8] = memoryview(stamps)


STAMPER = Stamper()


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def seq_write(path: Path, size: int, stamper: Stamper = STAMPER) -> None:
    block = bytearray(os.urandom(BLOCK))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // BLOCK):
            stamper.stamp(block)
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)


def seq_read(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, BLOCK):
            pass
    finally:
        os.close(fd)


def create_files(d: Path, count: int, size: int) -> None:
    data = bytearray(os.urandom(max(size, PAGE)))
    d.mkdir()
    for i in range(count):
        STAMPER.stamp(data)
        fd = os.open(d / f"file{i:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, memoryview(data)[:size])
        os.close(fd)


def stat_files(d: Path, count: int) -> None:
    for i in range(count):
        os.stat(d / f"file{i:06d}")


def stat_walk(d: Path) -> None:
    for entry in os.scandir(d):
        os.stat(entry.path)


def delete_files(d: Path, count: int) -> None:
    for i in range(count):
        os.unlink(d / f"file{i:06d}")


def parallel_writes(d: Path, writers: int, size: int) -> float:
    """Seconds for `writers` processes to each write and fsync a file of `size`, started
    together (each prepares its buffer first, then waits for the go)."""
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pids = []
    for n in range(writers):
        stamper = Stamper()  # its own salt: distinct data in every process
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(go_w)
                os.close(ready_r)
                os.write(ready_w, b"r")
                os.read(go_r, 1)
                seq_write(d / f"writer{n}", size, stamper)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(go_r)
    os.close(ready_w)
    for _ in range(writers):
        os.read(ready_r, 1)
    start = time.perf_counter()
    os.write(go_w, b"g" * writers)
    failed = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
    elapsed = time.perf_counter() - start
    os.close(go_w)
    os.close(ready_r)
    if failed:
        sys.exit(f"bench_fs: {len(failed)} of the parallel writers failed in {d}")
    return elapsed


POLICY_DAEMON = """
import sys, trio
from pathlib import Path
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
run_dir, mnt, sock, *members = sys.argv[1:]
config = Config(members=tuple(Path(p) for p in members), run_dir=Path(run_dir),
                socket=Path(sock))
daemon = Daemon(DaemonOptions(config, mountpoint=Path(mnt)))
trio.run(lambda: daemon.run(on_ready=lambda: print("ready", flush=True)))
"""
BENCH_UID = 2001


def timed_as(uid: int, fn: Callable[[], None]) -> float:
    """`fn` timed in a forked child running as `uid`."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        elapsed = timed(fn)
        os.write(w, repr(elapsed).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return float(out)


def policy_comparison(args: argparse.Namespace, base: Path) -> int:
    from nasfs.client import Client
    from nasfs.client.policy import PolicyClient
    from nasfs.store import Store

    size = args.size_mib * BLOCK
    arrays = {}
    for kind in ("bare", "gated"):
        members = [base / kind / f"member{i}" for i in range(4)]
        for m in members:
            m.mkdir(parents=True)
        arrays[kind] = members
    os.chmod(base, 0o755)
    bare_mnt, gated_mnt = base / "bare-mnt", base / "gated-mnt"
    bare_mnt.mkdir()
    gated_mnt.mkdir()
    run_dir = base / "run"
    run_dir.mkdir()
    bare = subprocess.Popen(
        [sys.executable, "-m", "nasfs.fuse.testmount", "--create", "--nparity", "1",
         str(bare_mnt), *map(str, arrays["bare"])], cwd=REPO, stdout=subprocess.DEVNULL)
    Store.create(arrays["gated"], 1)
    gated = subprocess.Popen(
        [sys.executable, "-c", POLICY_DAEMON, str(run_dir), str(gated_mnt),
         str(run_dir / "s.sock"), *map(str, arrays["gated"])], cwd=REPO,
        stdout=subprocess.PIPE, text=True)
    results: dict[str, tuple[float, float]] = {}
    try:
        wait_for_mount(bare, bare_mnt, "the bare mount")
        assert gated.stdout is not None and gated.stdout.readline().strip() == "ready"
        with Client.connect(run_dir / "s.sock") as client:
            admin = PolicyClient(client)
            admin.user_add("bench", BENCH_UID)
            admin.group_add("staff", 3000)
            admin.group_adduser("staff", "bench")
            admin.share_create("work")
            admin.share_acl("work", "group", "staff", "rw")
            admin.share_acl("work", "everyone", None, "ro")
        os.chown(gated_mnt / "work", BENCH_UID, BENCH_UID)

        def row(name: str, fn: Callable[[Path], None]) -> None:
            drop_caches()
            t_bare = timed(lambda: fn(bare_mnt))
            drop_caches()
            t_gated = timed_as(BENCH_UID, lambda: fn(gated_mnt / "work"))
            results[name] = (t_bare, t_gated)

        row("sequential write 1 MiB blocks + fsync", lambda d: seq_write(d / "big", size))
        row("sequential read, caches dropped", lambda d: seq_read(d / "big"))
        row(f"create+write+close {args.files} x {args.file_size} B",
            lambda d: create_files(d / "small", args.files, args.file_size))
        row("cold stat of all small files", lambda d: stat_files(d / "small", args.files))
        row("delete all small files (gated: to trash)",
            lambda d: delete_files(d / "small", args.files))
    finally:
        for mnt in (bare_mnt, gated_mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
        rcs = []
        for proc in (bare, gated):
            try:
                rcs.append(proc.wait(timeout=120))
            except subprocess.TimeoutExpired:
                proc.kill()
                rcs.append(proc.wait())
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'benchmark (policy gate)':45} {'root s':>9} {'user s':>9} {'ratio':>6}")
    for name, (t_bare, t_gated) in results.items():
        print(f"{name:45} {t_bare:9.3f} {t_gated:9.3f} {t_bare / t_gated:6.2f}x")
    print(f"(root on a bare mount without logging vs uid {BENCH_UID} on an ACL share with "
          f"the access log on; ratio = gated speed / bare speed; exit statuses {rcs})")
    return 0 if rcs == [0, 0] else 1



@dataclass
class Row:
    """One benchmark row: per target, the rate of each repetition."""

    name: str
    unit: str
    rates: dict[str, list[float]] = field(default_factory=dict)

    def median(self, target: str) -> float:
        return statistics.median(self.rates[target])


@dataclass
class Sizes:
    seq: int
    files: int
    file_size: int
    proc: int


def make_targets(base: Path, wanted: str | None) -> list[Target]:
    makers: dict[str, Callable[[], Target]] = {
        "native": lambda: Target(base),
        "mergerfs": lambda: MergerfsTarget(base),
        "pyfuse3 passthrough": lambda: PassthroughTarget(base),
        "nasfs p=1": lambda: NasfsTarget(base, members=4, nparity=1),
        "nasfs p=2": lambda: NasfsTarget(base, members=6, nparity=2),
    }
    names = list(makers)
    if wanted:
        names = [n for n in makers if any(w.strip() == n for w in wanted.split(","))]
        if "native" not in names:
            names.insert(0, "native")  # ratios are to native
    if "mergerfs" in names:
        MergerfsTarget.install()
    return [makers[n]() for n in names]


def rotated(targets: list[Target], rep: int) -> list[Target]:
    """The targets rotated by one per repetition, so none always goes first."""
    shift = rep % len(targets)
    return targets[shift:] + targets[:shift]


class Comparison:
    """Runs the rows over all targets, interleaved, and keeps the rates."""

    def __init__(self, targets: list[Target], sizes: Sizes, reps: int) -> None:
        self.targets = targets
        self.sizes = sizes
        self.reps = reps
        self.rows: dict[str, Row] = {}

    def order(self, rep: int) -> list[Target]:
        return rotated(self.targets, rep)

    def measure(self, rep: int, name: str, unit: str, amount: float,
                work: Callable[[Path], None], *, cold: bool = False,
                settle: bool = True) -> None:
        """Run `work` on each target's folder of this repetition; rate = amount / seconds."""
        row = self.rows.setdefault(name, Row(name, unit))
        for target in self.order(rep):
            if cold:
                target.cold()
            elif settle:
                drop_caches()  # no writeback of the previous target's data in this one
            folder = target.root / f"rep{rep}"
            seconds = timed(lambda: work(folder))  # noqa: B023 - called at once
            row.rates.setdefault(target.name, []).append(amount / seconds)

    def run(self) -> None:
        s = self.sizes
        mb = 1e6
        for rep in range(self.reps):
            for target in self.targets:
                (target.root / f"rep{rep}").mkdir()
            self.measure(rep, "seq write + fsync", "MB/s", s.seq / mb,
                         lambda d: seq_write(d / "big", s.seq))
            self.measure(rep, "seq read, cold", "MB/s", s.seq / mb,
                         lambda d: seq_read(d / "big"), cold=True)
            self.measure(rep, f"create+write {s.file_size} B+close", "files/s", s.files,
                         lambda d: create_files(d / "small", s.files, s.file_size))
            self.measure(rep, "stat walk, cold", "files/s", s.files,
                         lambda d: stat_walk(d / "small"), cold=True)
            self.measure(rep, "stat walk, warm", "files/s", s.files,
                         lambda d: stat_walk(d / "small"), settle=False)
            self.parallel_row(rep)
            self.tidy(rep)
        # After every create: ext4 creates files slower for a while after a bulk delete.
        for rep in range(self.reps):
            self.measure(rep, "unlink (nasfs: to the trash)", "files/s", s.files,
                         lambda d: delete_files(d / "small", s.files))

    def parallel_row(self, rep: int) -> None:
        name = f"{WRITERS} writers at once + fsync"
        row = self.rows.setdefault(name, Row(name, "MB/s"))
        for target in self.order(rep):
            drop_caches()
            seconds = parallel_writes(target.root / f"rep{rep}", WRITERS, self.sizes.proc)
            row.rates.setdefault(target.name, []).append(
                WRITERS * self.sizes.proc / 1e6 / seconds)

    def tidy(self, rep: int) -> None:
        """Free the big files of this repetition where that frees disk space (nasfs would
        only move them to its trash)."""
        for target in self.targets:
            if isinstance(target, NasfsTarget):
                continue
            folder = target.root / f"rep{rep}"
            for name in ["big", *(f"writer{n}" for n in range(WRITERS))]:
                (folder / name).unlink(missing_ok=True)

    def print_table(self) -> None:
        names = [t.name for t in self.targets]
        width = 26
        print(f"{'row':<34} {'unit':<8}" + "".join(f"{n:>{width}}" for n in names))
        for row in self.rows.values():
            native = row.median("native")
            cells = []
            for n in names:
                med = row.median(n)
                cells.append(f"{med:>{width - 9},.0f} ({med / native:5.2f}x)" if n != "native"
                             else f"{med:>{width},.0f}")
            print(f"{row.name:<34} {row.unit:<8}" + "".join(cells))
        print()
        print(f"medians of {self.reps} repetitions (each value below), ratio to native in "
              "parentheses")
        for row in self.rows.values():
            reps = "; ".join(f"{n} " + ", ".join(f"{v:,.0f}" for v in row.rates[n])
                             for n in names)
            print(f"  {row.name}: {reps}")


def comparison(args: argparse.Namespace, base: Path, sizes: Sizes) -> int:
    targets = make_targets(base, args.targets)
    started: list[Target] = []
    bench = Comparison(targets, sizes, args.reps)
    rcs: dict[str, int] = {}
    try:
        for target in targets:
            target.start()
            started.append(target)
        bench.run()
    finally:
        for target in started:
            rcs[target.name] = target.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"bench_fs: seq file {sizes.seq >> 20} MiB, {sizes.files} files of "
          f"{sizes.file_size} B, {WRITERS} writers x {sizes.proc >> 20} MiB, on {args.dir}")
    bench.print_table()
    bad = {n: rc for n, rc in rcs.items() if rc != 0}
    if bad:
        print(f"bench_fs: serving processes exited with {bad}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, to check the harness end to end")
    parser.add_argument("--size-mib", type=int, default=None, help="sequential file size")
    parser.add_argument("--files", type=int, default=None, help="number of small files")
    parser.add_argument("--file-size", type=int, default=4096)
    parser.add_argument("--proc-mib", type=int, default=None,
                        help="file size of each parallel writer")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians printed)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where to work")
    parser.add_argument("--targets", default=None,
                        help="comma-separated subset of: native, mergerfs, pyfuse3 "
                             "passthrough, nasfs p=1, nasfs p=2")
    parser.add_argument("--policy", action="store_true",
                        help="measure the policy gate (user + ACL + log) against bare root")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_fs: run as root (it drops the page cache and mounts FUSE)")
    quick = args.quick
    sizes = Sizes(seq=(args.size_mib or (32 if quick else 1024)) * BLOCK,
                  files=args.files or (300 if quick else 5000), file_size=args.file_size,
                  proc=(args.proc_mib or (16 if quick else 256)) * BLOCK)
    args.size_mib = sizes.seq // BLOCK
    args.files = sizes.files
    sys.path.insert(0, str(REPO))
    base = Path(tempfile.mkdtemp(prefix="nasfs-bench-", dir=args.dir))
    os.chmod(base, 0o755)
    if args.policy:
        return policy_comparison(args, base)
    return comparison(args, base, sizes)


if __name__ == "__main__":
    sys.exit(main())
