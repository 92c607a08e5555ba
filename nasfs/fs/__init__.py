"""The POSIX filesystem layer: namespace on the metadata database, file data in the store."""

from nasfs.fs.data import ChunkStore
from nasfs.fs.errors import FsError
from nasfs.fs.filesystem import (
    NAME_MAX,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    RENAME_WHITEOUT,
    ROOT_CALLER,
    AttrChanges,
    Caller,
    Filesystem,
    FsStats,
    Tuning,
    check_rename_flags,
)
from nasfs.fs.repository import Attributes
from nasfs.fs.schema import ROOT_INODE

__all__ = [
    "NAME_MAX",
    "RENAME_EXCHANGE",
    "RENAME_NOREPLACE",
    "RENAME_WHITEOUT",
    "ROOT_CALLER",
    "ROOT_INODE",
    "AttrChanges",
    "Attributes",
    "Caller",
    "ChunkStore",
    "Filesystem",
    "FsError",
    "FsStats",
    "Tuning",
    "check_rename_flags",
]
