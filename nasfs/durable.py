"""Durability helpers every layer shares (the store's labels and segments, the database
copies, backup destinations): one way to make a directory's entries survive a crash."""

from __future__ import annotations

import os


def fsync_dir(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> None:
    """fsync the directory `path` (relative to `dir_fd` when given), so that the names
    created, renamed or removed in it are on disk: a renamed file is only durable once its
    folder is."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_syncfs() -> object:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.syncfs
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def syncfs(path: str | os.PathLike[str]) -> None:
    """Write back everything written to the filesystem holding `path` and wait for it
    (syncfs(2)). For a tree another program wrote without fsync (rsync, cp -al): one call
    makes all of it durable before the name that says it is complete is published."""
    import ctypes

    fn = _libc_syncfs()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if fn(fd) != 0:  # type: ignore[operator]
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)
