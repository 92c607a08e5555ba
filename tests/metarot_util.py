"""Helpers of the metadata-rot tests: a real array run by the real daemon (`nasfs mount`
in a subprocess, so store.db, fs.db, policy.db and audit.db all exist on every member),
and byte flips in the copies.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasfs import registry
from nasfs.store import Store

NASFS = [sys.executable, "-m", "nasfs.cli.main"]
REPO = Path(__file__).resolve().parent.parent
DATABASES = ("store", "fs", "policy", "audit")


class Array:
    """Members, a mount point and a private run directory (NASFS_RUN_DIR) for one test."""

    def __init__(self, base: Path, count: int = 4, nparity: int = 1) -> None:
        self.base = base
        # Unix socket paths are limited to 107 bytes; pytest's tmp_path is too deep for them.
        self.run_dir = Path(tempfile.mkdtemp(prefix="nasfs-run-"))
        self.environ = dict(os.environ, NASFS_RUN_DIR=str(self.run_dir),
                            NASFS_LOG_DIR=str(base / "log"))
        self.environ.pop("NASFS_SOCKET", None)
        self.members = [base / f"disk{i}" for i in range(count)]
        for d in self.members:
            d.mkdir()
        Store.create(self.members, nparity, segment_bytes=1 << 20, max_shard_bytes=64 << 10)
        self.mnt = base / "mnt"
        self.mnt.mkdir()
        self.pid: int | None = None

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*NASFS, *map(str, args)], env=self.environ, cwd=REPO,
                              capture_output=True, text=True, timeout=300, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"nasfs {' '.join(map(str, args))} failed "
                                 f"({done.returncode}): {done.stderr}")
        return done

    def mount(self) -> None:
        self.run("mount", self.mnt, "--array", *self.members)
        record = registry.find_by_mountpoint(self.run_dir, self.mnt)
        assert record is not None
        self.pid = record.pid

    def umount(self) -> None:
        """Unmount and wait for the daemon to exit (it closes the databases after
        answering)."""
        self.run("umount", self.mnt)
        pid, self.pid = self.pid, None
        deadline = time.monotonic() + 120
        while pid is not None and _alive(pid):
            assert time.monotonic() < deadline, f"daemon {pid} did not exit"
            time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("status", "--json", self.mnt).stdout)
        return result

    def events(self) -> list[dict[str, Any]]:
        return list(self.status().get("events", []))

    def copy(self, member: int, database: str) -> Path:
        return self.members[member] / "nasfs" / "db" / f"{database}.db"

    def cleanup(self) -> None:
        for record in registry.live_records(self.run_dir):
            os.kill(record.pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while os.path.exists(f"/proc/{record.pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return False


def flip(path: Path, offset: int, mask: int) -> None:
    """XOR one byte of `path` in place (as a failing disk would change it)."""
    fd = os.open(path, os.O_RDWR)
    try:
        old = os.pread(fd, 1, offset)
        os.pwrite(fd, bytes([old[0] ^ mask]), offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def plain_rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows read without the checksum VFS (what a copy really says, damage included)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def content_digest(path: Path) -> str:
    """A digest of every table's rows of a copy (read without the VFS)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            h.update(table.encode())
            for row in sorted(repr(tuple(r)) for r in conn.execute(f'SELECT * FROM "{table}"')):
                h.update(row.encode())
        return h.hexdigest()
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"
    finally:
        conn.close()


def tree(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(root)), path.read_bytes()
