"""What a replicated database tells its owner: events about its copies, the copy guard,
and the errors it raises (see nasfs.db.replicated)."""

from __future__ import annotations

import errno as _errno
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.wire import codes


class MetadataLostError(NasfsError):
    """No usable copy of a metadata database is left."""

    wire_code = codes.METADATA_LOST


class WriteFailed(NasfsError, sqlite3.OperationalError):
    """A change could be written on no copy (every disk holding one is full, or the last
    copy failed): the open transaction was rolled back on every copy, so the database is
    as it was at its last commit. `errno` is ENOSPC for lack of space, EIO otherwise.

    Also a sqlite3.OperationalError, so owners that catch SQLite's errors still do."""

    wire_code = codes.WRITE_FAILED

    def __init__(self, message: str, *, no_space: bool) -> None:
        super().__init__(message)
        self.no_space = no_space
        self.errno = _errno.ENOSPC if no_space else _errno.EIO


@dataclass(frozen=True)
class DBEvent:
    """Something that happened to one copy: created, repaired, failed, promoted."""

    kind: str
    database: str
    path: Path
    detail: str


EventSink = Callable[[DBEvent], None]
# "May the copy at this path still be written?" The store answers it: only inside a member
# that is still the one assembled (a vanished disk's path must never get a new copy).
CopyGuard = Callable[[Path], bool]
# Called after a transaction was rolled back on every copy because it could not be written
# (with the WriteFailed raised next): owners put their in-memory state back to the disk's.
AbortListener = Callable[[WriteFailed], None]
