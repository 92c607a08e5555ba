#!/usr/bin/env python3
"""Benchmark of `nasfs backup` against plain `rsync -a` of the same tree, same destination.

An array served by its daemon (4 members, single parity, one everyone-rw share, as
scripts/bench_fs.py) holds two trees: a big one (1 GiB in 64 MiB files) and a many-files
one (20,000 files of 4 KiB in 100 folders). For each tree, in the same run and to folders
on the same disk: a backup job's first run and its unchanged second run (snapshot, rsync
from the snapshot with --link-dest, manifest, rename, retention), against `rsync -a` from
the live tree through the mount to a fresh folder, then again unchanged; `--repeat`
interleaved repetitions (a fresh job and folders each, backup or rsync first in turn),
medians. Every timed step
starts from a cold daemon (restarted: no chunk, attribute, policy or read cache) and an
empty page cache: otherwise whichever step runs second reads through the caches the first
one filled (the plain rsync ran after the backup and looked twice as fast for it; the
same rsync command line from a shell was as fast as the daemon's own once the order was
swapped). Backups are run through the control socket, as the daemon's schedule runs them
(no CLI start-up in the figures). Targets (issue 17): first
run ≥ 0.9× rsync's rate, an unchanged second run ≤ 1.2× rsync's time. A backup run flushes
its destination before it names the generation (docs/backup.md), which plain `rsync -a`
does not: the column `rsync+sync` times the same first copy followed by `sync -f`, and
the backup's rate against that.

    scripts/bench_backup.py [--dir DIR] [--quick]     # --quick: 64 MiB and 2,000 files
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fs_targets import NasfsTarget


def fill_big(root: Path, total_mib: int) -> int:
    root.mkdir()
    block = os.urandom(1 << 20)
    files = max(1, total_mib // 64)
    per = total_mib // files
    for i in range(files):
        with open(root / f"big{i:03}.bin", "wb") as f:
            for j in range(per):
                f.write(block[j % 256:] + block[: j % 256])
    return files


def fill_many(root: Path, count: int) -> int:
    root.mkdir()
    for d in range(100):
        (root / f"d{d:02}").mkdir()
    for i in range(count):
        (root / f"d{i % 100:02}" / f"f{i:05}.txt").write_bytes(os.urandom(4096))
    return count


def timed_run(target: NasfsTarget, job: str) -> float:
    """One `backup.run` through the control socket (what the schedule does: no CLI start),
    from a cold daemon."""
    from nasfs.client import Client

    target.cold()
    socket = target.socket
    with Client.connect(socket) as client:
        t = time.perf_counter()
        result = client.call("backup.run", {"name": job, "wait": True})
        took = time.perf_counter() - t
    if result["result"] != "ok":
        sys.exit(f"bench_backup: the backup of {job} failed: {result}")
    return took


def timed(target: NasfsTarget, *argvs: list[str]) -> float:
    """The commands `argvs` one after the other (plain rsync through the mount, and a
    `sync -f` of its copy for the durable row) from a cold daemon."""
    target.cold()
    t = time.perf_counter()
    for argv in argvs:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"bench_backup: {' '.join(argv)} failed: {done.stderr or done.stdout}")
    return time.perf_counter() - t


def one_round(target: NasfsTarget, base: Path, env: dict[str, str], name: str, rep: int,
              *, backup_first: bool) -> tuple[float, float, float, float, float]:
    """One repetition for the tree `name`: a fresh job's first and unchanged second run,
    plain rsync's first and second copy into a fresh folder, and the durable rsync (first
    copy + sync -f). `backup_first` says which of the two goes first (interleaved)."""
    nasfs = [sys.executable, "-m", "nasfs.cli.main"]
    job = f"{name}{rep}"
    ours, plain, durable = (base / f"{kind}-{job}" for kind in ("backup", "rsync", "durable"))
    ours.mkdir()
    subprocess.run([*nasfs, "backup", "add", job, "--source", f"bench/{name}",
                    "--folder", str(ours)], env=env, check=True, capture_output=True)
    rsync = ["rsync", "-a", f"{target.root / name}/", f"{plain}/"]

    def backups() -> tuple[float, float]:
        return timed_run(target, job), timed_run(target, job)

    def plains() -> tuple[float, float, float]:
        # The durable rsync: the same first copy made durable as a backup run makes its
        # generation (rsync writes without fsync; the run flushes the destination before
        # its manifest): into a fresh folder, then `sync -f` of it.
        d = timed(target, ["rsync", "-a", f"{target.root / name}/", f"{durable}/"],
                  ["sync", "-f", str(base)])
        return timed(target, rsync), timed(target, rsync), d

    if backup_first:
        (first, second), (r_first, r_second, d_first) = backups(), plains()
    else:
        (r_first, r_second, d_first), (first, second) = plains(), backups()
    subprocess.run([*nasfs, "backup", "del", job], env=env, check=True, capture_output=True)
    for folder in (ours, plain, durable):
        shutil.rmtree(folder)
    return first, second, r_first, r_second, d_first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: /var/tmp)")
    parser.add_argument("--quick", action="store_true", help="64 MiB and 2,000 files")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved repetitions, medians printed (default 3)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nasfs-bench-backup-", dir=args.dir or "/var/tmp"))
    big_mib, many = (64, 2000) if args.quick else (1024, 20000)
    target = NasfsTarget(base, 4, 1)
    rows = []
    try:
        os.environ["NASFS_STATE_DIR"] = str(base / "state")
        target.start()
        env = dict(os.environ, NASFS_SOCKET=str(target.socket),
                   NASFS_RUN_DIR=str(target.run_dir))
        trees = {"big": (lambda p: fill_big(p, big_mib), big_mib << 20),
                 "many": (lambda p: fill_many(p, many), many * 4096)}
        for name, (fill, size) in trees.items():
            files = fill(target.root / name)
            reps = [one_round(target, base, env, name, rep, backup_first=rep % 2 == 0)
                    for rep in range(args.repeat)]
            rows.append((name, files, size, reps))
    finally:
        target.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'tree':<6} {'files':>6} {'MiB':>6} | {'backup 1st':>10} {'rsync 1st':>10} "
          f"{'rate ratio':>10} | {'rsync+sync':>10} {'ratio':>6} | {'backup 2nd':>10} "
          f"{'rsync 2nd':>10} {'time ratio':>10}")
    for name, files, size, reps in rows:
        first, second, r_first, r_second, d_first = (
            statistics.median(r[i] for r in reps) for i in range(5))
        rate = r_first / first
        ratio = second / r_second
        print(f"{name:<6} {files:>6} {size / 2**20:>6.0f} | {first:>9.2f}s {r_first:>9.2f}s "
              f"{rate:>9.2f}{'' if rate >= 0.9 else '!'} | {d_first:>9.2f}s "
              f"{d_first / first:>6.2f} | {second:>9.2f}s {r_second:>9.2f}s "
              f"{ratio:>9.2f}{'' if ratio <= 1.2 else '!'}")
    print(f"medians of {args.repeat} interleaved repetitions (each below: backup 1st, 2nd; "
          "rsync 1st, 2nd; rsync+sync)")
    for name, _files, _size, reps in rows:
        print(f"  {name}: " + "; ".join(", ".join(f"{v:.2f}" for v in r) for r in reps))
    print("targets: first-run rate ratio >= 0.90, unchanged second-run time ratio <= 1.20 "
          "('!' marks a miss); 'rsync+sync': plain rsync -a of the first run followed by "
          "sync -f of its copy, as durable as a backup generation, and the backup's rate "
          "against it")


if __name__ == "__main__":
    main()
