"""Page checksums of the metadata databases: connections through the nasfs-checksum VFS.

Why: SQLite checks the structure of a database, not the bytes inside a row, so one changed
byte in a copy is read back as a wrong value and then spreads to every copy refreshed from
it. The compiled module `nasfs.db._checksum_vfs` (nasfs/db/src/checksum_vfs.c) registers a
VFS shim with the same libsqlite3 Python's sqlite3 uses; it stamps every page of a database
file with a CRC32C and its page number (in 8 reserved bytes per page) and fails any read
of a page that does not match with SQLITE_IOERR_DATA. Pages read from the WAL are checked
against SQLite's own frame checksums.

Every connection nasfs opens on a metadata database goes through `connect` here; new
databases are made by `create` (the reserved bytes must be there before the first page is
written); databases from before page checksums get them with `add_checksums`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import nasfs.db._checksum_vfs as _vfs

VFS_NAME: str = _vfs.VFS_NAME
RESERVED_BYTES: int = _vfs.RESERVED_BYTES

# The extended result code the VFS returns for a page whose checksum does not match.
SQLITE_IOERR_DATA = 10 | (32 << 8)
# Primary result codes that mean the bytes of the file are wrong (not the disk or the query).
_DAMAGE = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def uri(path: Path | str, *, readonly: bool = False) -> str:
    """The SQLite URI that opens `path` through the checksum VFS."""
    text = Path(path).absolute().as_uri() + f"?vfs={VFS_NAME}"
    return text + "&mode=ro" if readonly else text


def connect(path: Path | str, *, readonly: bool = False,
            check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to `path` whose every page read is verified (autocommit mode)."""
    return sqlite3.connect(uri(path, readonly=readonly), uri=True, isolation_level=None,
                           check_same_thread=check_same_thread)


def create(path: Path | str) -> None:
    """Make an empty database at `path` (which must not exist) with page checksums."""
    _vfs.create(str(path))


def add_checksums(path: Path | str) -> None:
    """Give the database at `path` page checksums, in place (a format upgrade).

    Only for a file known to be healthy: its old pages carry nothing to check them by.
    The reserve is made by a VACUUM through the plain VFS; the pages are then copied through
    the checksum VFS (which stamps each one) and the copy replaces the file atomically.
    """
    path = Path(path)
    _vfs.add_checksums(str(path))
    tmp = path.with_name(path.name + ".upgrading")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    source = sqlite3.connect(str(path), isolation_level=None)
    try:
        source.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dest = connect(tmp)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
    replace_durably(tmp, path)


def replace_durably(tmp: Path, target: Path) -> None:
    """Make the finished copy `tmp` the database at `target`, surviving a crash at any point.

    A WAL left beside the old file would be replayed onto the new one, so it goes first; a
    crash in between leaves an older but consistent file, which the next open repairs.
    """
    _fsync(tmp)
    for stale in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(tmp, target)
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def has_checksums(path: Path | str) -> bool:
    """Whether the database header says pages have room for checksums (byte 20 = 8)."""
    with open(path, "rb") as f:
        header = f.read(100)
    return len(header) == 100 and header[:16] == b"SQLite format 3\0" and \
        header[20] == RESERVED_BYTES


def file_problems(path: Path | str) -> list[str]:
    """Every page of the main database file checked against its stamp (WAL not included)."""
    problems: list[str] = _vfs.verify_file(str(path))
    return problems


def verify(path: Path | str, *, readonly: bool = False, thorough: bool = True) -> list[str]:
    """Everything wrong with the copy at `path`: page stamps of the whole file, then (with
    every page read through the checksum VFS, WAL included) SQLite's integrity_check, or
    with `thorough` off its quick_check (every page and row, without the index-against-
    table comparison that makes integrity_check slow on a big database: the mount uses
    it, the scrub does the whole check). Empty when the copy is sound. Changes no content;
    `readonly` also forbids the WAL recovery and the closing checkpoint a last connection
    does (the recovery shell)."""
    try:
        problems = file_problems(path)
    except OSError as exc:
        return [f"cannot be read: {exc}"]
    if problems:
        return problems
    try:
        conn = connect(path, readonly=readonly)
        try:
            check = "integrity_check" if thorough else "quick_check"
            rows = [str(r[0]) for r in conn.execute(f"PRAGMA {check}(5)").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [describe(exc)]
    return [] if rows == ["ok"] else rows


def is_damage(exc: BaseException) -> bool:
    """Whether a SQLite error says the bytes of the copy are wrong (checksum or structure)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return False
    return code == SQLITE_IOERR_DATA or (code & 0xFF) in _DAMAGE


def describe(exc: BaseException) -> str:
    """A SQLite error in words; a checksum mismatch is named as such."""
    if getattr(exc, "sqlite_errorcode", None) == SQLITE_IOERR_DATA:
        return "a page does not match its checksum (the copy is damaged)"
    return str(exc)
