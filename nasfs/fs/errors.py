"""Errors of the filesystem layer: each carries the errno a native filesystem would return.

The FUSE adapter turns the `errno` attribute into the reply (in exactly one place); the
message is for logs and for callers other than the kernel (CLI, recovery tools).
"""

from __future__ import annotations

import errno as _errno

from nasfs.errors import NasfsError
from nasfs.wire import codes


class FsError(NasfsError):
    """A filesystem operation failed the way a POSIX filesystem would fail it."""

    wire_code = codes.FS
    errno = _errno.EIO


class CloseFailed(FsError):
    """Buffered data could not be stored at close (members full or lost): the volume was
    closed at its last commit, marked for the recovery pass of the next mount."""

    wire_code = codes.CLOSE_FAILED


class NotFound(FsError):
    wire_code = codes.NOT_FOUND
    errno = _errno.ENOENT


class AlreadyExists(FsError):
    wire_code = codes.ALREADY_EXISTS
    errno = _errno.EEXIST


class NotEmpty(FsError):
    wire_code = codes.NOT_EMPTY
    errno = _errno.ENOTEMPTY


class NotADirectory(FsError):
    wire_code = codes.NOT_A_DIRECTORY
    errno = _errno.ENOTDIR


class IsADirectory(FsError):
    wire_code = codes.IS_A_DIRECTORY
    errno = _errno.EISDIR


class NameTooLong(FsError):
    wire_code = codes.NAME_TOO_LONG
    errno = _errno.ENAMETOOLONG


class InvalidArgument(FsError):
    wire_code = codes.INVALID_ARGUMENT
    errno = _errno.EINVAL


class NoSuchAttribute(FsError):
    wire_code = codes.NO_SUCH_ATTRIBUTE

    # ENODATA is Linux's ENOATTR.
    errno = _errno.ENODATA


class NotPermitted(FsError):
    wire_code = codes.NOT_PERMITTED
    errno = _errno.EPERM


class TooManyLinks(FsError):
    wire_code = codes.TOO_MANY_LINKS
    errno = _errno.EMLINK


class FileTooBig(FsError):
    wire_code = codes.FILE_TOO_BIG
    errno = _errno.EFBIG


class NoSpace(FsError):
    """The array cannot take this (outside the reserve); `done` bytes of a write were taken."""

    wire_code = codes.NO_SPACE
    errno = _errno.ENOSPC
    done = 0


class NotSupported(FsError):
    """An operation or mode this filesystem does not implement (e.g. fallocate modes)."""

    wire_code = codes.NOT_SUPPORTED

    errno = _errno.EOPNOTSUPP


class NoSuchOffset(FsError):
    """lseek SEEK_DATA/SEEK_HOLE at or past the end of the file, or no data after it."""

    wire_code = codes.NO_SUCH_OFFSET
    errno = _errno.ENXIO


class BadDescriptor(FsError):
    """The open file does not allow this (e.g. fallocate on a descriptor not open for
    writing)."""

    wire_code = codes.BAD_DESCRIPTOR

    errno = _errno.EBADF


class ReadOnly(FsError):
    """The volume is in its read-only fail-safe state (nasfs.fs.failsafe): no change is
    taken that could not be saved."""

    wire_code = codes.READ_ONLY
    errno = _errno.EROFS


class CommitFailed(FsError):
    """The metadata could not be committed: the operation that needed the commit fails,
    and the namespace was put back to what is on disk. ENOSPC when no disk had room for
    it, EIO when the cause is I/O."""

    wire_code = codes.COMMIT_FAILED

    def __init__(self, message: str, *, no_space: bool) -> None:
        super().__init__(message)
        self.errno = _errno.ENOSPC if no_space else _errno.EIO
