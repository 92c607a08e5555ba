"""The row types the repository and its in-memory rows share: the database it is handed
(`MetadataDB`) and an inode's attributes (`Attributes`). A module of their own, so that
nasfs.fs.inode_rows names them without naming the repository that uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class MetadataDB(Protocol):
    """What the repository needs from nasfs.db.ReplicatedDB."""

    def execute(self, sql: str, params: Any = ()) -> Any: ...
    def executemany(self, sql: str, seq: Any) -> Any: ...
    def query(self, sql: str, params: Any = ()) -> list[Any]: ...
    def query_one(self, sql: str, params: Any = ()) -> Any: ...
    def query_tuples(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]: ...
    def commit(self, *, durable: bool = False) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...
    @property
    def in_transaction(self) -> bool: ...
    # Bumped by every write statement and rollback (see nasfs.db.roles.CopyRoles).
    changes: int
    # Bumped by every rollback.
    rollbacks: int
    # Of `changes`, the write statements commits make themselves.
    commit_writes: int


@dataclass(slots=True)
class Attributes:
    """The stat(2) fields of one inode."""

    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    size: int
    rdev: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    crtime_ns: int
