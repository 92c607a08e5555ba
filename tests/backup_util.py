"""Helpers of the backup tests: a mounted array with a share, loop-device disks holding real
filesystems, a tree with modes/times/xattrs, and the `nasfs backup` command."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.fuse_policy_util import PolicyMount, serve_nas

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def backup_nas(base: Path, share: str = "docs") -> Iterator[PolicyMount]:
    """A daemon-mounted array with `share` (everyone rw); NASFS_STATE_DIR in `base`."""
    base.mkdir(exist_ok=True)
    os.environ["NASFS_STATE_DIR"] = str(base / "state")
    try:
        yield from serve_nas(base, share, {})
    finally:
        os.environ.pop("NASFS_STATE_DIR", None)


def cli(nas: PolicyMount, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NASFS_SOCKET=str(nas.socket), NASFS_RUN_DIR=str(nas.run_dir))
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, input=stdin, timeout=600)


@contextlib.contextmanager
def loop_disk(base: Path, fstype: str, size_mib: int, label: str = "BACKUP") -> Iterator[
        tuple[str, str]]:
    """A loop device holding a fresh `fstype` filesystem: yields (device, UUID)."""
    image = base / f"disk-{fstype}.img"
    with open(image, "wb") as f:
        f.truncate(size_mib << 20)
    device = subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        mkfs = {"ext4": ["mkfs.ext4", "-q", "-F", "-L", label],
                "exfat": ["mkfs.exfat", "-L", label],
                "vfat": ["mkfs.vfat", "-F", "32", "-n", label],
                "ntfs": ["mkfs.ntfs", "-Q", "-F", "-L", label]}[fstype]
        subprocess.run([*mkfs, device], check=True, capture_output=True)
        uuid = subprocess.run(["blkid", "-s", "UUID", "-o", "value", device], check=True,
                              capture_output=True, text=True).stdout.strip()
        assert uuid, f"blkid found no UUID on {device}"
        yield device, uuid
    finally:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            if line.split()[0] == device:
                subprocess.run(["umount", "-l", line.split()[1]], check=False)
        subprocess.run(["losetup", "-d", device], check=False)


@contextlib.contextmanager
def mounted_disk(device: str) -> Iterator[Path]:
    """Mount `device` somewhere private for the test to look at."""
    from nasfs.backup.usb import mount_type

    where = Path(tempfile.mkdtemp(prefix="nasfs-disk-"))
    fstype = subprocess.run(["blkid", "-p", "-s", "TYPE", "-o", "value", device],
                            capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["mount", *mount_type(fstype), device, str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def make_tree(root: Path) -> None:
    """Files, folders, a symlink, a hard link, modes, times and a user xattr."""
    (root / "reports" / "2026").mkdir(parents=True)
    (root / "reports" / "q1.txt").write_bytes(b"quarter one\n" * 1000)
    (root / "reports" / "2026" / "plan.bin").write_bytes(os.urandom(300_000))
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("remember the milk\n")
    os.chmod(root / "notes.txt", 0o640)
    os.chown(root / "notes.txt", 1234, 5678)
    os.setxattr(root / "notes.txt", "user.colour", b"blue")
    os.utime(root / "notes.txt", ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))
    os.symlink("notes.txt", root / "link-to-notes")
    os.link(root / "reports" / "q1.txt", root / "q1-again.txt")


def picture(root: Path, *, posix: bool = True) -> dict[str, tuple[Any, ...]]:
    """Every path under `root` with its content and (with `posix`) its metadata."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("#")]
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            body: Any = None
            if stat.S_ISREG(st.st_mode):
                body = p.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(p)
            if not posix:
                # Seconds as a float: FAT-like filesystems keep times to 2 s only.
                mtime = None if stat.S_ISDIR(st.st_mode) else st.st_mtime
                out[rel] = (kind, body, mtime)
                continue
            xattrs = tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False))
                                  for n in os.listxattr(p, follow_symlinks=False)
                                  if n.startswith("user.")))
            mtime = None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
            out[rel] = (kind, st.st_mode, st.st_uid, st.st_gid, body, mtime, xattrs)
    return out


def wait_running(nas: PolicyMount, job: str, *, min_bytes: int = 1) -> dict[str, Any]:
    """Wait (bounded) until `job` is copying and has copied at least `min_bytes`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = nas.call("backup.status", {"name": job})
        p = items[0]["progress"]
        if items[0]["running"] and p and p["phase"] == "copy" and p["bytes_done"] >= min_bytes:
            return dict(items[0])
        time.sleep(0.1)
    raise AssertionError(f"backup {job} did not get going")


def wait_finished(nas: PolicyMount, job: str) -> dict[str, Any]:
    """Wait (bounded) until `job` is neither running nor queued and its last run has ended;
    returns that run."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        s = nas.call("backup.status", {"name": job})[0]
        if not s["running"] and not s["queued"] and s["last_run"] and \
                s["last_run"]["result"] != "running":
            return dict(s["last_run"])
        time.sleep(0.2)
    raise AssertionError(f"backup {job} did not finish")


def slow_job(nas: PolicyMount, dest: Path, big_files: int, bwlimit_kib: int) -> None:
    """The share `docs` holds the tree of `make_tree` and `big_files` 2 MiB files, and the job
    `docs` copies it into the folder `dest` at `bwlimit_kib` KiB/s (slow enough to catch it
    mid-run)."""
    docs = nas.mnt / "docs"
    make_tree(docs)
    for i in range(big_files):
        (docs / f"big{i}.bin").write_bytes(os.urandom(2 << 20))
    add_folder_job(nas, "docs", dest, "--bwlimit", str(bwlimit_kib))


def add_folder_job(nas: PolicyMount, job: str, dest: Path, *options: str) -> None:
    """`nasfs backup add JOB --source docs --folder DEST OPTIONS...` (DEST made if need be),
    which must succeed."""
    dest.mkdir(exist_ok=True)
    added = cli(nas, "backup", "add", job, "--source", "docs", "--folder", str(dest), *options)
    assert added.returncode == 0, added.stderr


def run_job(nas: PolicyMount, job: str) -> dict[str, Any]:
    """`nasfs --json backup run JOB`, which must succeed: the run's answer."""
    done = json.loads(cli(nas, "--json", "backup", "run", job).stdout)
    assert done["result"] == "ok", done
    return dict(done)


def resumed_after_interruption(nas: PolicyMount, job: str, folder: Path) -> dict[str, Any]:
    """After a run of `job` was cut short, its `folder` at the destination holds exactly
    one `.incomplete-*` and no generation; the job, no longer slowed (--bwlimit 0), runs
    again to one complete generation (and its manifest) sending less than the whole again.
    Returns that run's answer."""
    pending = [n for n in os.listdir(folder) if n.startswith(".incomplete-")]
    assert len(pending) == 1 and not [n for n in os.listdir(folder) if not n.startswith(".")]
    assert cli(nas, "backup", "edit", job, "--bwlimit", "0").returncode == 0
    done = run_job(nas, job)
    assert sorted(os.listdir(folder)) == [done["generation"], done["generation"] + ".manifest"]
    assert done["sent_bytes"] < done["bytes"]  # what was there already was not sent again
    return done


SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@contextlib.contextmanager
def ssh_server() -> Iterator[tuple[int, Path]]:
    """sshd on 127.0.0.1:PORT, the other box of the ssh tests, with its own host key
    (`DIR/host`, `DIR/host.pub`); yields (PORT, DIR), DIR/authorized_keys to fill."""
    d = Path(tempfile.mkdtemp(prefix="nasfs-sshd-"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")],
                   check=True)
    keys = d / "authorized_keys"
    keys.write_text("")
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {keys}\nPidFile {d / 'sshd.pid'}\nPermitRootLogin "
        "prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stderr=open(d / "sshd.log", "wb"))  # noqa: SIM115
    try:
        wait_port(port, proc)
        yield port, d
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]
