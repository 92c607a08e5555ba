"""Helpers shared by the snapshot tests: a picture of a tree through a view, and of the live
tree through the filesystem, in one comparable form."""

from __future__ import annotations

import stat
from typing import Any

from nasfs.fs import ROOT_INODE, Filesystem
from nasfs.fs.snapshot_view import SnapshotView

Picture = dict[bytes, tuple[Any, ...]]


async def picture_of_view(view: SnapshotView, ino: int = ROOT_INODE,
                          prefix: bytes = b"") -> Picture:
    """Every path under `ino` with its type, attributes, content/target and xattrs."""
    out: Picture = {}
    after = 0
    while True:
        batch = view.readdir(ino, after, 100)
        if not batch:
            break
        for off, name, a in batch:
            after = off
            path = prefix + b"/" + name
            xattrs = tuple((n, view.getxattr(a.ino, n)) for n in view.listxattr(a.ino))
            common = (stat.S_IFMT(a.mode), a.mode, a.uid, a.gid, a.nlink, a.size, a.rdev,
                      a.atime_ns, a.mtime_ns, a.ctime_ns, xattrs)
            if stat.S_ISDIR(a.mode):
                out[path] = common
                out.update(await picture_of_view(view, a.ino, path))
            elif stat.S_ISLNK(a.mode):
                out[path] = (*common, view.readlink(a.ino))
            elif stat.S_ISREG(a.mode):
                out[path] = (*common, await view.read(a.ino, 0, a.size + 10))
            else:
                out[path] = common
    return out


async def picture_of_live(fs: Filesystem, ino: int = ROOT_INODE,
                          prefix: bytes = b"") -> Picture:
    """The same picture of the live tree."""
    out: Picture = {}
    after = 0
    while True:
        batch = fs.readdir(ino, after, 100)
        if not batch:
            break
        for off, name, a in batch:
            after = off
            path = prefix + b"/" + name
            xattrs = tuple((n, fs.getxattr(a.ino, n)) for n in fs.listxattr(a.ino))
            common = (stat.S_IFMT(a.mode), a.mode, a.uid, a.gid, a.nlink, a.size, a.rdev,
                      a.atime_ns, a.mtime_ns, a.ctime_ns, xattrs)
            if stat.S_ISDIR(a.mode):
                out[path] = common
                out.update(await picture_of_live(fs, a.ino, path))
            elif stat.S_ISLNK(a.mode):
                out[path] = (*common, fs.readlink(a.ino))
            elif stat.S_ISREG(a.mode):
                out[path] = (*common, await fs.read(a.ino, 0, a.size + 10))
            else:
                out[path] = common
    return out


def refs_agree(fs: Filesystem) -> bool:
    """Every extent row holds exactly one store reference."""
    store: Any = fs.store
    counts = fs.repo.chunk_refcounts()
    return all(store.refcount(c) == n for c, n in counts.items())
