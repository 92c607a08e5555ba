"""One copy of a replicated database on disk: its connection, its WAL fsync, and the one
durable way a copy is written whole (`copy_database`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nasfs.db import checksums


@dataclass
class DatabaseCopy:
    """One file of a replicated database, with its connection while it is in use."""

    path: Path
    conn: sqlite3.Connection | None = None
    inode: int = 0
    wal_fd: int = -1

    def connect(self) -> sqlite3.Connection:
        conn = checksums.connect(self.path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: commits do not fsync; commit(durable=True) fsyncs the WAL itself, which
        # gives FULL's guarantee exactly where the caller asks for it.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self.inode = os.stat(self.path).st_ino
        return conn

    def close(self) -> None:
        if self.wal_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.wal_fd)
            self.wal_fd = -1
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

    def still_there(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def fsync_wal(self) -> None:
        wal = Path(f"{self.path}-wal")
        if self.wal_fd >= 0 and os.fstat(self.wal_fd).st_ino != inode_or_zero(wal):
            os.close(self.wal_fd)
            self.wal_fd = -1
        if self.wal_fd < 0:
            try:
                self.wal_fd = os.open(wal, os.O_RDONLY)
            except FileNotFoundError:
                return  # nothing written in WAL mode yet: the commit went to the main file
        os.fsync(self.wal_fd)


def inode_or_zero(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


class DamagedCopyError(sqlite3.DatabaseError):
    """A copy just written does not verify (its bytes changed on the way to the disk)."""


def copy_database(source: sqlite3.Connection, target: Path) -> None:
    """Replace `target` with a consistent copy of `source`, atomically and durably."""
    tmp = target.with_name(target.name + ".copying")
    tmp.unlink(missing_ok=True)
    # Through the checksum VFS on both sides: every source page read is verified (a damaged
    # source fails the copy before anything is replaced) and every page written is stamped.
    dest = checksums.connect(tmp)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=WAL")
        # Fold the WAL into the file so the copy is one self-contained file.
        dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        dest.close()
        # A half-written copy must not keep the space it took (a full disk is a reason
        # this fails, and is retried later).
        for partial in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            partial.unlink(missing_ok=True)
        raise
    dest.close()
    for leftover in (Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    problems = checksums.file_problems(tmp)
    if problems:
        tmp.unlink(missing_ok=True)
        raise DamagedCopyError(f"the new copy {target} does not verify: {'; '.join(problems[:3])}")
    checksums.replace_durably(tmp, target)

