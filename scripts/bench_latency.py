#!/usr/bin/env python3
"""FUSE request latency on a nasfs mount while `df` runs in a loop and a writer fsyncs.

Why: every FUSE request is answered on the filesystem's one trio thread, so a request that
blocks there (a statvfs of every member, a lock held across another thread's fsync, a
database copy) stalls every other request of every client behind it. This measures what a
client sees: the latency of single FUSE requests (stat of a name not looked up before, so
the kernel asks nasfs every time: one LOOKUP request each) in three phases:

- idle: nothing else runs;
- df loop: another process calls statvfs on the mount in a loop (FUSE STATFS each time);
- df loop + fsync writer: also a process writing 1 MiB blocks to a file on the mount and
  fsyncing after each (store puts: stripe writes, member fsyncs, catalog commits).

Prints p50 / p99 / max in milliseconds and the number of requests per phase, and the load
average at the start and the end (the machine is shared; say it with the numbers).

Usage: scripts/bench_latency.py [--seconds 8] [--dir /var/tmp] [--nparity 1] [--members 4]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20


def wait_for_mount(proc: subprocess.Popen[bytes], mnt: Path) -> None:
    deadline = time.monotonic() + 120
    while not os.path.ismount(mnt):
        if proc.poll() is not None:
            sys.exit(f"bench_latency: the mount process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            sys.exit("bench_latency: the mount did not come up within 120 s")
        time.sleep(0.05)


def df_loop(mnt: str, stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        os.statvfs(mnt)


def fsync_writer(path: str, stop: multiprocessing.synchronize.Event) -> None:
    block = os.urandom(MiB)
    n = 0
    with open(path, "wb") as f:
        while not stop.is_set():
            # Distinct data every block: deduplication must not turn writes into no-ops.
            f.write(n.to_bytes(8, "little") + block[8:])
            f.flush()
            os.fsync(f.fileno())
            n += 1
            if n % 64 == 0:
                f.seek(0)  # stay small: overwrite instead of filling the disk


def probe(mnt: Path, seconds: float, tag: str) -> list[float]:
    """Latencies (s) of stat() on names never asked before (each is one FUSE LOOKUP)."""
    out: list[float] = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        name = mnt / f"absent-{tag}-{i}"
        i += 1
        t = time.perf_counter()
        with contextlib.suppress(FileNotFoundError):
            os.stat(name)
        out.append(time.perf_counter() - t)
    return out


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where to work")
    parser.add_argument("--nparity", type=int, default=1)
    parser.add_argument("--members", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nasfs-latency-", dir=args.dir))
    members = [base / f"member{i}" for i in range(args.members)]
    for m in members:
        m.mkdir()
    mnt = base / "mnt"
    mnt.mkdir()
    load_start = os.getloadavg()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasfs.fuse.testmount", "--create", "--nparity",
         str(args.nparity), str(mnt), *map(str, members)], cwd=REPO, stdout=subprocess.DEVNULL)
    results: dict[str, list[float]] = {}
    ctx = multiprocessing.get_context("fork")
    helpers: list[multiprocessing.process.BaseProcess] = []
    stop = ctx.Event()
    try:
        wait_for_mount(proc, mnt)
        probe(mnt, 1.0, "warmup")
        results["idle"] = probe(mnt, args.seconds, "idle")
        helpers.append(ctx.Process(target=df_loop, args=(str(mnt), stop)))
        helpers[-1].start()
        results["df loop"] = probe(mnt, args.seconds, "df")
        helpers.append(ctx.Process(target=fsync_writer, args=(str(mnt / "written"), stop)))
        helpers[-1].start()
        time.sleep(0.5)  # the writer's first stripes are on their way
        results["df loop + fsync writer"] = probe(mnt, args.seconds, "dfw")
    finally:
        stop.set()
        for h in helpers:
            h.join(timeout=60)
            if h.is_alive():
                h.kill()
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        shutil.rmtree(base, ignore_errors=True)
    load_end = os.getloadavg()
    print(f"{'phase (stat of a new name)':28} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'max ms':>8}")
    for phase, values in results.items():
        v = sorted(values)
        print(f"{phase:28} {len(v):9d} {quantile(v, 0.5) * 1e3:8.3f}"
              f" {quantile(v, 0.99) * 1e3:8.3f} {v[-1] * 1e3 if v else float('nan'):8.2f}")
    print(f"({args.seconds:g} s per phase, {args.members} members, parity {args.nparity};"
          f" load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end;"
          f" mount exit status {rc})")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
