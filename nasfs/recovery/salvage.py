"""`salvage`: copy files out of the array into a directory outside it, without FUSE.

Reads the namespace from the best fs.db copy and the data straight from the segment files
(checked against each chunk's BLAKE3 name, rebuilt from parity where a shard is missing),
all read-only: nothing on the array changes, so it is safe on an array that cannot be
mounted or even assembled. A file is written under a temporary name and renamed into place
only when every record of it was read back intact; a file with a lost record is left out
and listed, never written with holes or garbage. Modes, owners, times, symlinks, hard
links, fifos and user xattrs are kept; existing names in the destination are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nasfs.fs.schema import ROOT_INODE
from nasfs.recovery import catalog_read
from nasfs.recovery.session import RecoveryError
from nasfs.store.reader import read_direct, read_reconstructing

log = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass
class SalvageReport:
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    others: int = 0
    bytes: int = 0
    lost: list[str] = field(default_factory=list)  # "path: why"
    skipped: list[str] = field(default_factory=list)  # "path: why"


@dataclass(frozen=True)
class _Inode:
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    size: int
    rdev: int
    atime_ns: int
    mtime_ns: int


class ChunkReader:
    """Chunk bytes from the segment files, hash-checked, reconstructed if need be; no healing."""

    def __init__(self, conn: sqlite3.Connection, present: Mapping[int, Path], member_count: int,
                 nparity: int) -> None:
        self.conn = conn
        self.present = dict(present)
        self.member_count = member_count
        self.nparity = nparity

    def read(self, chunk_id: bytes) -> bytes | str:
        """The bytes, or a reason why they cannot be had."""
        found = catalog_read.locate(self.conn, chunk_id)
        if found is None:
            return f"chunk {chunk_id.hex()[:16]} is not in the store catalog"
        chunk, stripe = found
        data = read_direct(chunk, stripe, self.present, self.member_count)
        if data is not None:
            return data
        outcome = read_reconstructing(chunk, stripe, self.present, self.member_count,
                                      self.nparity)
        if outcome.data is None:
            return (f"chunk {chunk_id.hex()[:16]} in stripe {stripe.id} is lost (more shards "
                    f"missing or damaged than parity {self.nparity} covers)")
        return outcome.data


def resolve(conn: sqlite3.Connection, path: str) -> int:
    """The inode of an absolute path inside the array; RecoveryError if there is none."""
    ino = ROOT_INODE
    for part in (p for p in path.split("/") if p):
        row = conn.execute("SELECT ino FROM dentry WHERE parent = ? AND name = ?"
                           " AND died IS NULL", (ino, os.fsencode(part))).fetchone()
        if row is None:
            raise RecoveryError(f"there is no {path!r} in the array (no {part!r})")
        ino = int(row[0])
    return ino


def _inode(conn: sqlite3.Connection, ino: int) -> _Inode | None:
    row = conn.execute("SELECT id, mode, uid, gid, nlink, size, rdev, atime_ns, mtime_ns"
                       " FROM inode WHERE id = ? AND died IS NULL", (ino,)).fetchone()
    return None if row is None else _Inode(*(int(v) for v in row))


def outside_array(dest: Path, members: list[Path]) -> None:
    real = os.path.realpath(dest)
    for m in members:
        mreal = os.path.realpath(m)
        if real == mreal or real.startswith(mreal.rstrip("/") + "/"):
            raise RecoveryError(f"{dest} is inside {m}, a disk of the array; salvage needs a "
                                "directory on another disk")


class Salvager:
    def __init__(self, conn: sqlite3.Connection, reader: ChunkReader, say: Say) -> None:
        self.conn = conn
        self.reader = reader
        self.say = say
        self.report = SalvageReport()
        self.record_size = int(self._meta("record_size", 1 << 20))
        self.linked: dict[int, Path] = {}  # inode -> first place it was written (hard links)
        self._dir_times: list[tuple[Path, _Inode]] = []

    def _meta(self, key: str, default: int) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else int(row[0])

    def run(self, ino: int, name: str, dest: Path) -> SalvageReport:
        node = _inode(self.conn, ino)
        if node is None:
            raise RecoveryError(f"inode {ino} does not exist in fs.db")
        if stat.S_ISDIR(node.mode):
            dest.mkdir(parents=True, exist_ok=True)
            self._directory(node, "/" if ino == ROOT_INODE else name, dest)
        else:
            dest.mkdir(parents=True, exist_ok=True)
            self._entry(node, name, dest / os.path.basename(name))
        # Directory times last, innermost first: writing into a directory changes its mtime.
        for path, d in reversed(self._dir_times):
            self._attributes(path, d)
        return self.report

    def _directory(self, node: _Inode, shown: str, target: Path) -> None:
        self.report.directories += 1
        rows = self.conn.execute("SELECT name, ino FROM dentry WHERE parent = ? AND died IS NULL"
                                 " ORDER BY id", (node.ino,)).fetchall()
        for raw, child in rows:
            name = bytes(raw)
            child_node = _inode(self.conn, int(child))
            shown_child = shown.rstrip("/") + "/" + name.decode(errors="replace")
            if child_node is None:
                self.report.lost.append(f"{shown_child}: its inode {child} is missing")
                continue
            self._entry(child_node, shown_child, target / os.fsdecode(name))
        self._dir_times.append((target, node))

    def _entry(self, node: _Inode, shown: str, path: Path) -> None:
        if os.path.lexists(path) and not (stat.S_ISDIR(node.mode) and path.is_dir()
                                          and not path.is_symlink()):
            self.report.skipped.append(f"{shown}: {path} exists already, left alone")
            return
        if node.nlink > 1 and not stat.S_ISDIR(node.mode) and node.ino in self.linked:
            os.link(self.linked[node.ino], path)
            return
        if stat.S_ISDIR(node.mode):
            path.mkdir(exist_ok=True)
            self._directory(node, shown, path)
            return
        if stat.S_ISREG(node.mode):
            if not self._file(node, shown, path):
                return
            self.report.files += 1
        elif stat.S_ISLNK(node.mode):
            row = self.conn.execute("SELECT target FROM symlink WHERE ino = ? AND died IS NULL",
                                    (node.ino,)).fetchone()
            if row is None:
                self.report.lost.append(f"{shown}: symlink without a target")
                return
            os.symlink(bytes(row[0]), path)
            self.report.symlinks += 1
        else:
            try:
                os.mknod(path, node.mode, node.rdev)
            except OSError as exc:
                self.report.skipped.append(f"{shown}: special file not made ({exc.strerror})")
                return
            self.report.others += 1
        self._attributes(path, node)
        self.linked[node.ino] = path

    def _file(self, node: _Inode, shown: str, path: Path) -> bool:
        extents = self.conn.execute("SELECT idx, chunk, length FROM extent WHERE ino = ?"
                                    " AND died IS NULL ORDER BY idx", (node.ino,)).fetchall()
        tmp = path.with_name(f".{path.name}.salvage-partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            for idx, chunk, length in extents:
                data = self.reader.read(bytes(chunk))
                if isinstance(data, str):
                    os.close(fd)
                    fd = -1
                    tmp.unlink()
                    self.report.lost.append(f"{shown}: {data}")
                    return False
                start = int(idx) * self.record_size
                part = memoryview(data)[: min(int(length), max(node.size - start, 0))]
                written = 0
                while written < len(part):
                    written += os.pwrite(fd, part[written:], start + written)
            os.ftruncate(fd, node.size)
            os.fsync(fd)
        finally:
            if fd >= 0:
                os.close(fd)
        os.rename(tmp, path)
        self.report.bytes += node.size
        return True

    def _attributes(self, path: Path, node: _Inode) -> None:
        link = stat.S_ISLNK(node.mode)
        with contextlib.suppress(OSError):
            os.chown(path, node.uid, node.gid, follow_symlinks=False)
        if not link:
            os.chmod(path, stat.S_IMODE(node.mode))
            for name, value in self.conn.execute(
                    "SELECT name, value FROM xattr WHERE ino = ? AND died IS NULL",
                    (node.ino,)).fetchall():
                if bytes(name).startswith(b"user."):
                    with contextlib.suppress(OSError):
                        os.setxattr(path, bytes(name), bytes(value))
        with contextlib.suppress(NotImplementedError, OSError):
            os.utime(path, ns=(node.atime_ns, node.mtime_ns), follow_symlinks=not link)
