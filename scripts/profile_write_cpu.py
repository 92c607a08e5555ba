#!/usr/bin/env python3
"""CPU seconds the nasfs daemon spends per GiB written, by thread, with the wall rate.

On two cores the write rows are bound by the daemon's CPU time (docs/performance.md), and
CPU seconds are counted by the kernel whatever else runs on the machine, so this is the
figure to compare old and new code by. Starts a fresh array (4 members, p=1, or
--nparity 2 on 6) under the daemon with an everyone-rw share, as scripts/bench_fs.py does,
and for each of --reps repetitions writes the sequential row (one file of --mib in 1 MiB
writes, then fsync) or with --writers N the parallel row (N processes, each a --mib file
+ fsync); before each, the page cache is written back and dropped. Prints per repetition
the wall time and rate, the load average, the daemon's user and system CPU seconds per GiB
(from /proc/PID/task/*/stat, so threads are named; with their minor page faults), the
writers' own CPU per GiB, the kernel threads' (kworker, jbd2, ksoftirqd: I/O completion
and journal commits run there), and the machine's busy CPU seconds per GiB (/proc/stat:
includes every other job, so only meaningful when the machine is quiet). With --perf it
also samples the daemon with `perf record -g` during the last repetition and prints the
threads and functions that took the most samples.

    .venv/bin/python scripts/profile_write_cpu.py [--mib 256] [--writers 1] [--reps 3]
        [--nparity 1] [--perf] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_fs import BLOCK, Stamper, parallel_writes, seq_write
from bench_fs_targets import NASFS_DAEMON, NasfsTarget, drop_caches, wait_for_mount

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

# Names every Python thread in the kernel (prctl PR_SET_NAME, 15 bytes), so /proc and perf
# tell the daemon's threads apart: Python 3.11 leaves them all named after the process.
THREAD_NAMES = """
import ctypes, threading
_libc = ctypes.CDLL(None)
_bootstrap = threading.Thread._bootstrap_inner
def _named(self):
    _libc.prctl(15, self.name.encode()[:15], 0, 0, 0)
    _bootstrap(self)
threading.Thread._bootstrap_inner = _named
_libc.prctl(15, b"nasfs-trio", 0, 0, 0)
"""


class NamedThreadsNasfs(NasfsTarget):
    """The bench's nasfs target with every daemon thread named in the kernel."""

    def serve(self) -> None:
        env = dict(os.environ, NASFS_RUN_DIR=str(self.run_dir))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", THREAD_NAMES + NASFS_DAEMON, str(self.run_dir),
                 str(self.mnt), str(self.socket), *map(str, self.members)],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            sys.exit(f"profile_write_cpu: the daemon exited with {self.proc.wait()}")
        wait_for_mount(self.proc, self.mnt, "the nasfs daemon")


def thread_group(comm: str) -> str:
    """A thread's kind: its name without the number of its pool slot."""
    base = comm.rstrip("0123456789_").rstrip("-_ ")
    return base or comm


def daemon_cpu(pid: int) -> dict[str, tuple[float, float, float]]:
    """(user, system) CPU seconds and minor page faults of every live thread, summed by
    thread kind."""
    out: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = out[thread_group(comm)]
        cpu[0] += int(fields[11]) / TICK
        cpu[1] += int(fields[12]) / TICK
        cpu[2] += int(fields[7])
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the whole process, ended threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def machine_busy() -> float:
    """CPU seconds all cores spent not idle since boot (every process, the kernel's too)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK


def kernel_threads_cpu() -> float:
    """CPU seconds of the kernel's own threads (kworker, jbd2, ksoftirqd, ...): I/O
    completion, journal commits and writeback run there, not in the daemon. Other jobs'
    I/O counts too, so compare it only between runs at similar loads."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[6]) & 0x00200000:  # PF_KTHREAD in the flags field
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def children_cpu() -> float:
    ru = os.times()
    return ru.children_user + ru.children_system


def run_load(folder: Path, mib: int, writers: int) -> float:
    """Seconds for the load; the writers run in child processes (their CPU is counted)."""
    if writers == 1:
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                seq_write(folder / "big", mib * BLOCK, Stamper())
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status:
            sys.exit("profile_write_cpu: the writer failed")
        return time.perf_counter() - start
    return parallel_writes(folder, writers, mib * BLOCK)


def perf_report(data: Path, top: int) -> None:
    for sort, title in (("comm", "by thread"), ("sym", "by function (self)")):
        out = subprocess.run(
            ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
             "--sort", sort, "--percent-limit", "0.7"],
            capture_output=True, text=True).stdout
        lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
        print(f"\nperf samples of the daemon, {title}:")
        for ln in lines[:top]:
            print("  " + ln.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB per writer")
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--nparity", type=int, default=1, choices=[1, 2])
    parser.add_argument("--perf", action="store_true", help="perf record the last repetition")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("profile_write_cpu: run as root (it drops the page cache and mounts FUSE)")
    sys.path.insert(0, str(REPO))
    base = Path(tempfile.mkdtemp(prefix="nasfs-write-cpu-", dir=args.dir))
    members = 4 if args.nparity == 1 else 6
    target = NamedThreadsNasfs(base, members, args.nparity)
    gib = args.mib * args.writers / 1024
    totals: dict[str, list[float]] = collections.defaultdict(list)
    try:
        target.start()
        assert target.proc is not None
        pid = target.proc.pid
        for rep in range(args.reps):
            folder = target.root / f"rep{rep}"
            folder.mkdir()
            drop_caches()
            perf: subprocess.Popen[bytes] | None = None
            data = base / "perf.data"
            if args.perf and rep == args.reps - 1:
                perf = subprocess.Popen(
                    ["perf", "record", "-q", "-g", "-F", "999", "-p", str(pid), "-o",
                     str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            threads0, proc0 = daemon_cpu(pid), process_cpu(pid)
            busy0, child0, kthreads0 = machine_busy(), children_cpu(), kernel_threads_cpu()
            wall = run_load(folder, args.mib, args.writers)
            threads1, proc1 = daemon_cpu(pid), process_cpu(pid)
            busy1, child1, kthreads1 = machine_busy(), children_cpu(), kernel_threads_cpu()
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait()
            user = (proc1[0] - proc0[0]) / gib
            system = (proc1[1] - proc0[1]) / gib
            writer = (child1 - child0) / gib
            machine = (busy1 - busy0) / gib
            kthreads = (kthreads1 - kthreads0) / gib
            rate = args.mib * args.writers * BLOCK / 1e6 / wall
            for key, value in (("MB/s", rate), ("daemon user", user),
                               ("daemon sys", system), ("daemon", user + system),
                               ("writers", writer), ("kernel threads", kthreads),
                               ("machine", machine)):
                totals[key].append(value)
            print(f"rep {rep}: {wall:.2f} s, {rate:.0f} MB/s, load "
                  f"{os.getloadavg()[0]:.1f}; CPU s per GiB: daemon {user + system:.2f} "
                  f"(user {user:.2f}, sys {system:.2f}), writers {writer:.2f}, "
                  f"kernel threads {kthreads:.2f}, machine {machine:.2f}")
            for kind in sorted(threads1, key=lambda k: -sum(threads1[k][:2])):
                u0, s0, f0 = threads0.get(kind, (0.0, 0.0, 0.0))
                u1, s1, f1 = threads1[kind]
                if (u1 - u0) + (s1 - s0) >= 0.01 * gib:
                    print(f"    {kind:<22} user {(u1 - u0) / gib:5.2f}  sys "
                          f"{(s1 - s0) / gib:5.2f}  page faults {(f1 - f0) / gib:8,.0f}")
            if perf is not None and data.exists():
                perf_report(data, args.top)
        print(f"\n{args.writers} writer(s) x {args.mib} MiB, nasfs p={args.nparity}, "
              f"{args.reps} repetitions; medians:")
        for key, values in totals.items():
            values.sort()
            print(f"  {key:<14} {values[len(values) // 2]:8.2f}   ("
                  + ", ".join(f"{v:.2f}" for v in values) + ")")
    finally:
        rc = target.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
