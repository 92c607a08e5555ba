"""What requests of the filesystem layer carry and how the layer is tuned: the caller, the
changes of a setattr, statfs figures, the data path's sizes and intervals, and the rule a
file name must follow. Kept apart from nasfs.fs.filesystem so that modules working for it
(renames, unnamed inodes, allocation) use them without importing the class.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasfs.fs import errors

NAME_MAX = 255
DEFAULT_RECORD_SIZE = 1 << 20
@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: from the FUSE request context (the policy layer will map it to a user)."""

    uid: int
    gid: int
    pid: int = 0
    umask: int = 0o022


ROOT_CALLER = Caller(0, 0)


@dataclass(slots=True)
class AttrChanges:
    """Fields of a setattr; None means leave unchanged."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None


@dataclass(frozen=True, slots=True)
class FsStats:
    """statfs(2) figures."""

    block_size: int
    blocks: int
    blocks_free: int
    blocks_available: int
    files: int
    files_free: int
    name_max: int = NAME_MAX


@dataclass(frozen=True, slots=True)
class Tuning:
    """Sizes and intervals of the data path (defaults chosen by scripts/bench_fs.py)."""

    record_size: int = DEFAULT_RECORD_SIZE
    flush_batch: int = 16 << 20  # a file's dirty bytes that trigger a flush of that file
    max_dirty: int = 256 << 20  # all dirty bytes above which writers wait for flushes
    cache_bytes: int = 128 << 20  # record read cache
    commit_interval: float = 5.0  # group commit of unsynced changes, seconds


def check_name(name: bytes) -> None:
    if len(name) > NAME_MAX:
        raise errors.NameTooLong(f"the name {name[:40]!r}... is longer than {NAME_MAX} bytes")
    if not name or b"/" in name or b"\0" in name:
        raise errors.InvalidArgument(f"{name!r} is not a valid file name")
