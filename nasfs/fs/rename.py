"""rename(2) and renameat2(2) of the namespace: moving a name, replacing the target,
exchanging two names, leaving a whiteout; link counts of directories and of entries in
unnamed directories (the trash) follow. Functions of one Filesystem, whose `rename`
calls `rename` here; they use its namespace helpers as its own methods do.
"""

from __future__ import annotations

import stat
import time
from typing import TYPE_CHECKING

from nasfs.fs import errors
from nasfs.fs.inode_rows import copy_of
from nasfs.fs.repository import Attributes
from nasfs.fs.schema import ROOT_INODE
from nasfs.fs.values import Caller, check_name

if TYPE_CHECKING:
    # The filesystem's own operations in a file of their own: they work on its private
    # state, so they name it (nasfs.fs.hosts says why the other parts do not).
    from nasfs.fs.filesystem import Filesystem

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4  # overlayfs: leave a whiteout (character device 0:0) at the source
RENAME_FLAGS = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT  # what rename implements


def check_rename_flags(flags: int) -> None:
    """EINVAL for renameat2 flags this filesystem does not implement (anything newer than
    the three above) or that exclude each other: ignoring one would do other than asked."""
    if flags & ~RENAME_FLAGS:
        raise errors.InvalidArgument(f"rename flags {flags:#x} are not supported")
    if flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT):
        raise errors.InvalidArgument("RENAME_EXCHANGE excludes RENAME_NOREPLACE and _WHITEOUT")


def _check_not_inside(fs: Filesystem, ino: int, target_parent: int) -> None:
    """A directory must not move into itself or its own subtree (EINVAL)."""
    cur: int | None = target_parent
    while cur is not None and cur != ROOT_INODE:
        if cur == ino:
            raise errors.InvalidArgument("cannot move a directory into itself")
        cur = fs.repo.parent_of_directory(cur)


def rename(
    fs: Filesystem, p1: int, n1: bytes, p2: int, n2: bytes, flags: int, caller: Caller,
    source: Attributes | None = None,
) -> None:
    fs.failsafe.check_writable()
    check_rename_flags(flags)
    check_name(n1)
    check_name(n2)
    d1 = fs._dir(p1)
    d2 = d1 if p2 == p1 else fs._dir(p2)
    # A copy of the caller's look: the move changes it (link count, ctime) and writes it back.
    src = fs.repo.lookup_attrs(p1, n1) if source is None else copy_of(source)
    if src is None:
        raise errors.NotFound(f"{n1!r} does not exist in directory {p1}")
    dst = fs.repo.lookup_attrs(p2, n2)
    if dst is not None and flags & RENAME_NOREPLACE:
        raise errors.AlreadyExists(f"{n2!r} already exists in directory {p2}")
    src_dir = stat.S_ISDIR(src.mode)
    now = time.time_ns()
    if flags & RENAME_EXCHANGE:
        if dst is None:
            raise errors.NotFound(f"{n2!r} does not exist in directory {p2}")
        _exchange(fs, p1, n1, src, d1, p2, n2, dst, d2, now)
        return
    if p1 == p2 and n1 == n2:
        return
    if src_dir:
        _check_not_inside(fs, src.ino, p2)
    if dst is not None and dst.ino == src.ino:
        return  # two links to one file: POSIX says do nothing
    _move(fs, p1, n1, src, d1, p2, n2, dst, d2, now)
    if flags & RENAME_WHITEOUT:
        _whiteout(fs, p1, n1, caller)


def _whiteout(fs: Filesystem, parent: int, name: bytes, caller: Caller) -> None:
    """Leave what ext4 leaves for RENAME_WHITEOUT: a character device 0:0 of the caller,
    which overlayfs reads as 'deleted in the upper layer'."""
    a = fs._new_inode(parent, name, stat.S_IFCHR, caller, rdev=0)[0]
    fs.forget(a.ino, 1)  # the kernel was handed no reference to it


def _move(fs: Filesystem, p1: int, n1: bytes, src: Attributes, d1: Attributes, p2: int, n2: bytes,
          dst: Attributes | None, d2: Attributes, now: int) -> None:
    """The rename proper of `src` (`n1` in `p1`) to `n2` in `p2`, replacing `dst`."""
    src_dir = stat.S_ISDIR(src.mode)
    if dst is not None:
        dst_dir = stat.S_ISDIR(dst.mode)
        if src_dir and not dst_dir:
            raise errors.NotADirectory(f"{n2!r} is not a directory")
        if dst_dir and not src_dir:
            raise errors.IsADirectory(f"{n2!r} is a directory")
        if dst_dir and fs.repo.has_entries(dst.ino):
            raise errors.NotEmpty(f"directory {n2!r} is not empty")
        fs.repo.retarget_dentry(p2, n2, src.ino)
        if dst_dir:
            d2.nlink -= 1
            fs._remove_dir(dst, now)
        else:
            fs._drop_link(dst, now, fs._counted(p2))
        fs.repo.delete_dentry(p1, n1)
    else:
        fs.repo.move_dentry(p1, n1, p2, n2, src.ino)
    if src_dir and p1 != p2:
        d1.nlink -= 1
        d2.nlink += 1
    elif not src_dir:
        # Into an unnamed directory (the trash) the name stops counting; out, it counts.
        src.nlink += fs._counted(p2) - fs._counted(p1)
    src.ctime_ns = now
    fs.repo.update_inode(src)
    fs._touch_dir(d1, now)
    # An unnamed directory's own times are nobody's to see (no path reaches it; the
    # `#trash` folders show the daemon's start time), so a file moved into it (every
    # deletion into the trash) does not write its row; a directory moved in changes its
    # link count, which is written.
    if d2 is not d1 and (src_dir or p2 not in fs._uncounted):
        fs._touch_dir(d2, now)


def _exchange(
    fs: Filesystem,
    p1: int,
    n1: bytes,
    a1: Attributes,
    d1: Attributes,
    p2: int,
    n2: bytes,
    a2: Attributes,
    d2: Attributes,
    now: int,
) -> None:
    if p1 == p2 and n1 == n2:
        return
    if p1 in fs._uncounted or p2 in fs._uncounted:
        raise errors.InvalidArgument("entries of an unnamed directory are not exchanged")
    dir1, dir2 = stat.S_ISDIR(a1.mode), stat.S_ISDIR(a2.mode)
    if dir1:
        _check_not_inside(fs, a1.ino, p2)
    if dir2:
        _check_not_inside(fs, a2.ino, p1)
    fs.repo.retarget_dentry(p1, n1, a2.ino)
    fs.repo.retarget_dentry(p2, n2, a1.ino)
    if p1 != p2 and dir1 != dir2:
        moved_to_2 = 1 if dir1 else -1
        d1.nlink -= moved_to_2
        d2.nlink += moved_to_2
    for a in (a1, a2):
        a.ctime_ns = now
        fs.repo.update_inode(a)
    fs._touch_dir(d1, now)
    if d2 is not d1:
        fs._touch_dir(d2, now)
