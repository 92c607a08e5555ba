#!/usr/bin/env python3
"""Profile the nasfs daemon under one short load: where a write, a create or a stat goes.

Starts a fresh array (4 members, p=1, or --nparity 2 on 6) under the daemon with an
everyone-rw share, as scripts/bench_fs.py does, runs one load in the share as root, and
prints, from cProfile of the daemon's trio thread (which serves every FUSE request):
the FUSE requests the kernel sent per operation of the load (counted by wrapping the
handlers of nasfs.fuse.operations) and the functions with the most own and cumulative time
(cProfile counts each resumption of a coroutine as a call, so read ncalls of async
functions as "calls + awaits"). With --py-spy it also samples every thread of the daemon
(py-spy, if installed in the environment) and prints the share of samples per thread and
per hot function, which shows the store's worker threads too.

    .venv/bin/python scripts/profile_fs.py write [--mib 256]
    .venv/bin/python scripts/profile_fs.py create [--files 2000]
    .venv/bin/python scripts/profile_fs.py stat [--files 2000]   # one cold walk, one warm
    .venv/bin/python scripts/profile_fs.py list [--files 2000]   # 10 listings of the folder
        (what smbd does before every create of a new name in a case-insensitive share)
    .venv/bin/python scripts/profile_fs.py put [--files 1000]    # list the folder, then
        create + write 4 KiB + close, per file: smbd's put of small files into such a share
    .venv/bin/python scripts/profile_fs.py unlink [--files 2000]  # unlink each (to the
        trash) in a fresh daemon, as bench_fs's unlink row
    options: --nparity 2, --py-spy, --top 25, --dir /var/tmp
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_fs import BLOCK, create_files, delete_files, seq_write, stat_walk
from bench_fs_targets import NasfsTarget, drop_caches

REPO = Path(__file__).resolve().parent.parent
LISTINGS = 10  # the `list` load: full listings of one folder of --files entries


class ProfiledNasfs(NasfsTarget):
    """The bench's nasfs target with the daemon under cProfile."""

    def __init__(self, base: Path, members: int, nparity: int, profile: Path) -> None:
        super().__init__(base, members, nparity)
        self.profile = profile

    def serve(self) -> None:
        os.environ["NASFS_BENCH_PROFILE"] = str(self.profile)
        try:
            super().serve()
        finally:
            del os.environ["NASFS_BENCH_PROFILE"]


def fuse_requests(profile: Path) -> collections.Counter[str]:
    """FUSE requests by kind, summed over the daemon runs profiled into `profile`."""
    counts: collections.Counter[str] = collections.Counter()
    counted = Path(str(profile) + ".requests")
    if counted.exists():
        counts.update(json.loads(counted.read_text()))
    return counts


def py_spy_summary(raw: Path, top: int) -> None:
    """Shares of samples per thread and per function from py-spy's collapsed stacks."""
    threads: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        # A thread is known by what it runs: the frames below its entry point.
        threads[" > ".join(f.split(" (")[0] for f in frames[1:4])] += count
        # The innermost frame inside nasfs, parity or a C call it made.
        inner = [f for f in frames if "nasfs/" in f or "parity" in f or "sqlite" in f]
        leaves[(inner[-1] if inner else frames[-1]).split(" (")[0]] += count
    print(f"\npy-spy: {total} samples (all threads, idle included); by thread:")
    for name, count in threads.most_common(12):
        print(f"  {count / total:6.1%}  {name}")
    print("innermost nasfs frame:")
    for name, count in leaves.most_common(top):
        print(f"  {count / total:6.1%}  {name}")


def py_spy_command() -> str:
    """py-spy from the environment, else from PATH (installed elsewhere with pip --target)."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        sys.exit("py-spy is not installed (.venv/bin/pip install py-spy)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("load", choices=["write", "create", "stat", "list", "put", "unlink"])
    parser.add_argument("--mib", type=int, default=256, help="size of the written file")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--nparity", type=int, default=1, choices=[1, 2])
    parser.add_argument("--py-spy", action="store_true", help="also sample all threads")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", type=Path, default=None,
                        help="folder to keep daemon.prof and py-spy.txt in")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    base = Path(tempfile.mkdtemp(prefix="nasfs-profile-", dir=args.dir))
    profile = base / "daemon.prof"
    members = 4 if args.nparity == 1 else 6
    target = ProfiledNasfs(base, members, args.nparity, profile)
    spy: subprocess.Popen[bytes] | None = None
    raw = base / "py-spy.txt"
    try:
        target.start()
        folder = target.root / "load"
        folder.mkdir()
        if args.load in ("stat", "list", "unlink"):
            create_files(folder / "small", args.files, 4096)
            target.stop()  # profile only the load: a fresh daemon, empty caches
            target.serve()
            drop_caches()
        else:
            drop_caches()
        assert target.proc is not None
        if args.py_spy:
            spy = subprocess.Popen(
                [py_spy_command(), "record", "--pid",
                 str(target.proc.pid), "--threads", "--idle", "--nonblocking", "--rate", "250",
                 "--format", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        start = time.perf_counter()
        if args.load == "write":
            seq_write(folder / "big", args.mib * BLOCK)
            ops, what = args.mib, "1 MiB writes"
        elif args.load == "create":
            create_files(folder / "small", args.files, 4096)
            ops, what = args.files, "files created"
        elif args.load == "put":
            small = folder / "small"
            small.mkdir()
            data = os.urandom(4096)
            for i in range(args.files):
                os.listdir(small)
                with open(small / f"file-{i:06d}", "wb") as f:
                    f.write(data)
            ops, what = args.files, "files listed for, then created"
        elif args.load == "unlink":
            delete_files(folder / "small", args.files)
            ops, what = args.files, "files unlinked (to the trash)"
        elif args.load == "list":
            for _ in range(LISTINGS):
                fd = os.open(folder / "small", os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.listdir(fd)
                finally:
                    os.close(fd)
            ops, what = LISTINGS * args.files, f"entries listed ({LISTINGS} listings)"
        else:
            stat_walk(folder / "small")
            cold = time.perf_counter() - start
            stat_walk(folder / "small")
            ops, what = 2 * args.files, f"stats (cold walk {cold:.2f} s, then warm)"
        elapsed = time.perf_counter() - start
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait()
        target.stop()
        print(f"load: {ops} {what} in {elapsed:.2f} s into an everyone-rw share, "
              f"nasfs p={args.nparity} on {members} members")
        stats = pstats.Stats(str(profile))
        print("\nFUSE requests the kernel sent during the load, by kind:")
        for kind, calls in fuse_requests(profile).most_common():
            print(f"  {kind:<14} {calls:8}  {calls / ops:7.2f} per operation")
        print()
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        if spy is not None and raw.exists():
            py_spy_summary(raw, args.top)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for kept in (profile, raw):
                if kept.exists():
                    shutil.copy(kept, args.save / kept.name)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        target.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
