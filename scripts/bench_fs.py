#!/usr/bin/env python3
"""Filesystem benchmark: a mounted 4-member single-parity array versus a native directory.

Both live on the same disk and are measured in the same run. Rows: sequential write with
fsync, sequential read with caches dropped, create+write+close of many small files, cold
stat of all of them, delete of all of them. Every create (native and nasfs) happens before
any bulk delete, because ext4 creates files much slower for a while after a bulk delete.
Prints each ratio (nasfs throughput / native throughput). Needs root (drop_caches, FUSE).

    .venv/bin/python scripts/bench_fs.py [--size-mib 1024] [--files 5000] [--dir /var/tmp]

With --policy it measures the cost of the policy gate instead: the same rows as a non-root
NAS user on a share with an ACL, through the daemon with access logging on, against root on
a bare mount (no gate, no log). Ratio = gated speed / bare speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLOCK = 1 << 20


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def seq_write(path: Path, size: int) -> None:
    # Every block differs (its index in the first 8 bytes): nasfs deduplicates records, so
    # one block written over and over would store a single 1 MiB chunk and measure nothing.
    block = bytearray(os.urandom(BLOCK))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(size // BLOCK):
            block[:8] = i.to_bytes(8, "little")
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
    data = bytearray(os.urandom(size))  # distinct per file, as for seq_write
    d.mkdir()
    for i in range(count):
        data[:8] = i.to_bytes(8, "little")
        fd = os.open(d / f"file{i:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)


def stat_files(d: Path, count: int) -> None:
    for i in range(count):
        os.stat(d / f"file{i:06d}")


def delete_files(d: Path, count: int) -> None:
    for i in range(count):
        os.unlink(d / f"file{i:06d}")


def wait_for_mount(proc: subprocess.Popen[bytes], mnt: Path) -> None:
    while not os.path.ismount(mnt):
        if proc.poll() is not None:
            sys.exit(f"bench_fs: the mount process exited with {proc.returncode}")
        time.sleep(0.05)


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
        wait_for_mount(bare, bare_mnt)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="sequential file size")
    parser.add_argument("--files", type=int, default=5000, help="number of small files")
    parser.add_argument("--file-size", type=int, default=4096)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where to work")
    parser.add_argument("--policy", action="store_true",
                        help="measure the policy gate (user + ACL + log) against bare root")
    args = parser.parse_args()
    size = args.size_mib * BLOCK
    base = Path(tempfile.mkdtemp(prefix="nasfs-bench-", dir=args.dir))
    if args.policy:
        sys.path.insert(0, str(REPO))
        return policy_comparison(args, base)
    native = base / "native"
    native.mkdir()
    members = [base / f"member{i}" for i in range(4)]
    for m in members:
        m.mkdir()
    mnt = base / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasfs.fuse.testmount", "--create", "--nparity", "1",
         str(mnt), *map(str, members)], cwd=REPO, stdout=subprocess.DEVNULL)
    results: dict[str, tuple[float, float]] = {}
    try:
        wait_for_mount(proc, mnt)
        targets = {"native": native, "nasfs": mnt}

        def row(name: str, fn: Callable[[Path], None], before: Callable[[], None] = drop_caches,
                ) -> None:
            times = []
            for where in ("native", "nasfs"):
                before()
                times.append(timed(lambda: fn(targets[where])))  # noqa: B023
            results[name] = (times[0], times[1])

        row("sequential write 1 MiB blocks + fsync", lambda d: seq_write(d / "big", size))
        row("sequential read, caches dropped", lambda d: seq_read(d / "big"))
        row(f"create+write+close {args.files} x {args.file_size} B",
            lambda d: create_files(d / "small", args.files, args.file_size))
        row("cold stat of all small files", lambda d: stat_files(d / "small", args.files))
        row("delete all small files", lambda d: delete_files(d / "small", args.files))
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'benchmark':45} {'native s':>9} {'nasfs s':>9} {'ratio':>6}")
    for name, (t_native, t_nasfs) in results.items():
        print(f"{name:45} {t_native:9.3f} {t_nasfs:9.3f} {t_native / t_nasfs:6.2f}x")
    print(f"(sequential file {args.size_mib} MiB; ratio = nasfs speed / native speed;"
          f" mount exit status {rc})")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
