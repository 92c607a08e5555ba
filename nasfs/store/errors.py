"""Errors raised by the store, each a `NasfsError` whose message names what is wrong."""

from __future__ import annotations

import errno as _errno

from nasfs.errors import NasfsError
from nasfs.wire import codes


class StoreError(NasfsError):
    """Base of the store's expected failures."""

    wire_code = codes.STORE


class AssemblyError(StoreError):
    """The given member directories do not form a usable array (wrong, stale, too few...)."""

    wire_code = codes.ASSEMBLY
    errno = _errno.ENODEV


class SplitArrayError(AssemblyError):
    """Parts of the array were used apart (each mounted without the others) and diverged."""

    wire_code = codes.SPLIT_ARRAY


class StaleMemberError(AssemblyError):
    """A given member missed writes the rest of the array has (it needs a rebuild)."""

    wire_code = codes.STALE_MEMBER


class MkfsError(StoreError):
    """An array cannot be created on the given directories."""

    wire_code = codes.MKFS
    errno = _errno.EINVAL


class ChunkNotFoundError(StoreError):
    """No chunk with this id is in the catalog."""

    wire_code = codes.CHUNK_NOT_FOUND
    errno = _errno.ENOENT


class ChunkLostError(StoreError):
    """A chunk cannot be read back: more shards are damaged than parity covers."""

    wire_code = codes.CHUNK_LOST
    errno = _errno.EIO


class StoreFullError(StoreError):
    """A member ran out of space (ENOSPC) while a stripe was written; nothing was stored."""

    wire_code = codes.STORE_FULL
    errno = _errno.ENOSPC


class StoreIOError(StoreError):
    """Too many members failed while writing; the put was not stored."""

    wire_code = codes.STORE_I_O
    errno = _errno.EIO


class RebuildError(StoreError):
    """A rebuild cannot start or continue (bad target, index not missing...)."""

    wire_code = codes.REBUILD
    errno = _errno.EINVAL


class RebuildArgumentError(RebuildError):
    """The rebuild was asked wrongly (slot present or out of range, bad target directory).

    Not a failure of a rebuild: nothing was started, so it is reported as bad arguments
    (exit code 2) and never as "rebuild stopped" (no mail, no failed-rebuild event).
    """

    wire_code = codes.REBUILD_ARGUMENT
    exit_code = 2


class StoreClosedError(StoreError):
    """The store was used after close()."""

    wire_code = codes.STORE_CLOSED
    errno = _errno.EBADF
