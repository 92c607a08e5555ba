"""Inodes without a user-visible name, for the trash: content detached from a file into a
new nameless inode, the first name of such an inode, and directories no path reaches
(whose entries do not count in st_nlink). Functions of one Filesystem, whose methods of
the same names call them.
"""

from __future__ import annotations

import stat
import time
from typing import TYPE_CHECKING

import trio

from nasfs.fs import errors
from nasfs.fs.repository import Attributes
from nasfs.fs.values import check_name

if TYPE_CHECKING:
    # The filesystem's own operations in a file of their own: they work on its private
    # state, so they name it (nasfs.fs.hosts says why the other parts do not).
    from nasfs.fs.filesystem import Filesystem


async def detach_content(fs: Filesystem, ino: int) -> Attributes:
    """Move the content of regular file `ino` to a new inode without a name (nlink 0,
    an orphan until linked somewhere); `ino` keeps its number and becomes empty.

    No data is copied: extent rows change owner. The trash uses it to keep what an
    O_TRUNC or truncate-to-zero would throw away. Returns the new inode's attributes.
    """
    fs.failsafe.check_writable()
    a = fs.getattr(ino)
    if not stat.S_ISREG(a.mode):
        raise errors.InvalidArgument(f"inode {ino} is not a regular file")
    # Buffered writes belong to the old content: flush them into extent rows first (and
    # wait for a flush of them another task runs, or its rows would land on `ino` later).
    while ino in fs.data.dirty_inodes():
        await fs.data.flush([ino])
    older = fs.repo.older_extent_chunks(ino)
    if older:
        # Rows a snapshot keeps hold their own references; the copies need theirs.
        # Retaining adds references without reading or writing any data.
        await trio.to_thread.run_sync(fs.store.retain, older)
    while ino in fs.data.dirty_inodes():  # written while we awaited the store
        await fs.data.flush([ino])
    # From here on no await: the move is atomic with respect to other requests.
    a = fs.getattr(ino)
    now = time.time_ns()
    moved = Attributes(
        fs.repo.allocate_ino(), a.mode, a.uid, a.gid, 0, a.size, 0,
        a.atime_ns, a.mtime_ns, now, a.crtime_ns,
    )
    fs.repo.insert_inode(moved)
    fs.repo.add_orphan(moved.ino)
    copied = fs.repo.move_extents(ino, moved.ino)
    # References taken above but no longer needed (records rewritten meanwhile).
    extra = list(older)
    for c in copied:
        if c in extra:
            extra.remove(c)
    fs.data.release_after_commit += extra
    a.size = 0
    a.mtime_ns = a.ctime_ns = now
    fs.repo.update_inode(a)
    fs.data.reservations.discard(ino)  # emptied, as a truncation to zero would
    return moved


def link_orphan(fs: Filesystem, ino: int, parent: int, name: bytes) -> Attributes:
    """Give an unnamed inode (from `detach_content`) its first name."""
    fs.failsafe.check_writable()
    check_name(name)
    a = fs.getattr(ino)
    d = fs._dir(parent)
    if fs.repo.lookup(parent, name) is not None:
        raise errors.AlreadyExists(f"{name!r} already exists in directory {parent}")
    now = time.time_ns()
    fs.repo.insert_dentry(parent, name, ino)
    fs.repo.delete_orphan(ino)
    a.nlink += fs._counted(parent)
    a.ctime_ns = now
    fs.repo.update_inode(a)
    fs._touch_dir(d, now)
    return a


def make_unnamed_dir(fs: Filesystem, meta_key: str) -> int:
    """The inode of a directory reachable from no path, kept under `meta_key` (created on
    first call): a place for entries the namespace must not show, such as the trash.
    Its entries do not count in st_nlink (see `_uncounted`)."""
    found = fs.repo.get_meta(meta_key)
    if found is not None and fs.repo.get_inode(int(found)) is not None:
        fs._uncounted.add(int(found))
        return int(found)
    fs.failsafe.check_writable()
    now = time.time_ns()
    a = Attributes(fs.repo.allocate_ino(), stat.S_IFDIR | 0o700, 0, 0, 2, 0, 0,
                   now, now, now, now)
    fs.repo.insert_inode(a)
    fs.repo.set_meta(meta_key, a.ino)
    fs._uncounted.add(a.ino)
    return a.ino
