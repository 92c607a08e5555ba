#!/usr/bin/env python3
"""SMB benchmark: the same smbd configuration exporting a native directory versus exporting
a nasfs share (through the daemon, gate and access log), both on the same disk, with
`smbclient` on loopback.

Rows (each on both targets in turn, --reps repetitions, medians, ratio nasfs / native):

    put 1 file      one file of --size-mib (different bytes in every 4 KiB)   MB/s
    get 1 file      the same file back                                       MB/s
    put N files     --files files of 4 KiB with `mput`                       files/s
    get N files     the same files back with `mget`                          files/s

Targets from the issue: sequential >= 0.7x of Samba-on-native, small files >= 0.3x.
Needs root (smbd, FUSE) and libnss-extrausers (scripts/setup): the benchmark user is
published to the system for the run and the machine's extrausers files are restored after.

    .venv/bin/python scripts/bench_smb.py [--size-mib 1024] [--files 2000] [--reps 3]
        [--dir /var/tmp] [--case-sensitive]

--case-sensitive runs both shares with `case sensitive = yes` (the nasfs share through its
option `case_sensitive`): smbd then no longer lists the whole folder before each create.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fs_targets import SHARE, NasfsTarget

from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.policy import osaccounts
from nasfs.smb import passdb
from nasfs.smb.config import Site, directories, global_section
from nasfs.smb.server import Smbd

USER, UID, PASSWORD = "benchsmb", 46190, "bench-smb-pw"
HOST = "127.0.0.1"
SMALL = 4096


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_data(folder: Path, size_mib: int, files: int) -> tuple[Path, Path]:
    big = folder / "big.bin"
    with open(big, "wb") as f:
        for i in range(size_mib * 256):  # 4 KiB blocks, each different
            f.write(i.to_bytes(8, "little") * (SMALL // 8))
    small = folder / "small"
    small.mkdir()
    for i in range(files):
        (small / f"f{i:05d}").write_bytes(i.to_bytes(8, "little") * (SMALL // 8))
    return big, small


class NativeSmbd:
    """smbd with nasfs's global settings over a plain directory of the same disk."""

    def __init__(self, base: Path, *, case_sensitive: bool = False) -> None:
        self.case_sensitive = case_sensitive
        self.root = base / "native-share"
        self.root.mkdir()
        os.chown(self.root, UID, osaccounts.PRIMARY_GID)
        self.site = Site(base / "unused", base / "native-smb", port=free_port(),
                         interfaces=(HOST,))
        self.smbd = Smbd(self.site)

    def start(self) -> None:
        for d in directories(self.site):
            d.mkdir(parents=True, exist_ok=True)
        self.site.conf.write_text("\n".join([
            *global_section(self.site), "", f"[{SHARE}]", f"   path = {self.root}",
            "   read only = no", f"   valid users = {USER}",
            *(["   case sensitive = yes"] if self.case_sensitive else [])]) + "\n")
        passdb.set_password(self.site, USER, PASSWORD)
        self.smbd.start()


def smbclient(port: int, *commands: str, cwd: Path) -> None:
    done = subprocess.run(["smbclient", "-p", str(port), f"//{HOST}/{SHARE}", "-U",
                           f"{USER}%{PASSWORD}", "-m", "SMB3", "-c", "; ".join(commands)],
                          capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0 or "NT_STATUS" in done.stdout:
        sys.exit(f"bench_smb: smbclient failed: {done.stdout}{done.stderr}")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_rows(port: int, root: Path, big: Path, small: Path, work: Path) -> dict[str, float]:
    """One repetition on one target; returns row -> rate."""
    files = sorted(small.iterdir())
    back = work / "back"
    shutil.rmtree(back, ignore_errors=True)
    back.mkdir()
    size_mb = big.stat().st_size / 1e6
    rates = {}
    rates["put 1 file"] = size_mb / timed(lambda: smbclient(
        port, f"put {big} big.bin", cwd=work))
    rates["get 1 file"] = size_mb / timed(lambda: smbclient(
        port, f"get big.bin {back / 'big.bin'}", cwd=work))
    rates["put N files"] = len(files) / timed(lambda: smbclient(
        port, "mkdir small", "cd small", f"lcd {small}", "prompt off", "mput f*", cwd=work))
    rates["get N files"] = len(files) / timed(lambda: smbclient(
        port, "cd small", f"lcd {back}", "prompt off", "mget f*", cwd=work))
    if (back / "big.bin").stat().st_size != big.stat().st_size or \
            len(list(back.iterdir())) != len(files) + 1:
        sys.exit("bench_smb: what came back differs from what was sent")
    # Empty the share for the next repetition (on nasfs: into the trash, as a delete).
    for entry in list(root.iterdir()):
        if entry.name.startswith("#"):
            continue
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--case-sensitive", action="store_true",
                        help="both shares look names up in their exact case")
    args = parser.parse_args()
    # The system's extrausers files are shared with the tests: take their lock, as they do.
    lock = open(osaccounts.EXTRAUSERS_DIR / ".nasfs-tests.lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    base = Path(tempfile.mkdtemp(prefix="bench-smb-", dir=args.dir))
    os.chmod(base, 0o755)
    saved = {n: (osaccounts.EXTRAUSERS_DIR / n).read_bytes()
             for n in ("passwd", "group", "shadow") if (osaccounts.EXTRAUSERS_DIR / n).exists()}
    nasfs = NasfsTarget(base, members=4, nparity=1)
    native = NativeSmbd(base, case_sensitive=args.case_sensitive)
    try:
        nasfs.start()
        with Client.connect(nasfs.socket) as client:
            admin = PolicyClient(client)
            port = free_port()
            for key, value in (("os.accounts", True), ("smb.port", port),
                               ("smb.interfaces", HOST),
                               ("smb.state_dir", str(base / "nasfs-smb"))):
                admin.settings_set(key, value)
            admin.user_add(USER, UID, password=PASSWORD)
            if args.case_sensitive:
                admin.share_edit(SHARE, case_sensitive=True)
            admin.settings_set("smb.enabled", True)
            native.start()
            work = base / "work"
            work.mkdir()
            big, small = make_data(work, args.size_mib, args.files)
            results: dict[str, dict[str, list[float]]] = {"native": {}, "nasfs": {}}
            for _ in range(args.reps):
                for name, target_port, root in (("native", native.site.port, native.root),
                                                ("nasfs", port, nasfs.root)):
                    for row, rate in run_rows(target_port, root, big, small, work).items():
                        results[name].setdefault(row, []).append(rate)
            admin.settings_set("smb.enabled", False)
        print(f"{'row':<14} {'native':>15} {'nasfs':>15} {'ratio':>7}   "
              f"({args.size_mib} MiB, {args.files} x 4 KiB, median of {args.reps}"
              f"{', case-sensitive names' if args.case_sensitive else ''})")
        for row in results["native"]:
            unit = "MB/s" if "1 file" in row else "files/s"
            n = statistics.median(results["native"][row])
            s = statistics.median(results["nasfs"][row])
            print(f"{row:<14} {n:>7.1f} {unit:<7} {s:>7.1f} {unit:<7} {s / n:>6.2f}x")
    finally:
        native.smbd.stop()
        nasfs.stop()
        for name, data in saved.items():
            (osaccounts.EXTRAUSERS_DIR / name).write_bytes(data)
        shutil.rmtree(base, ignore_errors=True)
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
