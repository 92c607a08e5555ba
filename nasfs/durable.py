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
