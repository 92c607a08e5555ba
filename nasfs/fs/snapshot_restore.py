"""Restoring a file or a folder tree from a snapshot into the live tree, without copying data.

The restored inodes are new rows that name the snapshot's chunks: `store.retain` adds one
reference per extent row (durably, before the rows commit: the ordering rule of
docs/architecture.md), so no byte of file data is read or written. Modes, owners, atime,
mtime, birth time, xattrs, symlink targets, device numbers and hard links inside the
restored tree are kept; ctime is the time of the restore, as for any change.

Where it goes: to `to` (a path that must not exist yet, in an existing directory), else to
the original path if it is free, else beside it as 'NAME (SNAPSHOT-NAME)'.
"""

from __future__ import annotations

import logging
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from nasfs.fs import errors
from nasfs.fs.repository import Attributes
from nasfs.fs.schema import ROOT_INODE

if TYPE_CHECKING:
    from nasfs.fs.hosts import SnapshotHost
    from nasfs.fs.snapshot_view import SnapshotView

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    path: bytes  # where it was restored, from the volume root
    parent_ino: int  # live directory that got the new entry (for cache invalidation)
    name: bytes
    ino: int  # inode of the restored top object
    files: int  # inodes created
    bytes: int  # file bytes now named again (no data copied)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path.decode("utf-8", "surrogateescape"), "ino": self.ino,
                "files": self.files, "bytes": self.bytes}


@dataclass(slots=True)
class _Item:
    old: Attributes
    parent: int | None  # old inode of the parent inside the restored tree; None = the top
    name: bytes


def split_path(path: bytes) -> tuple[bytes, bytes]:
    parts = [p for p in path.split(b"/") if p]
    if not parts:
        raise errors.InvalidArgument("the root of the volume cannot be restored as a whole")
    return b"/".join(parts[:-1]), parts[-1]


def resolve_live(fs: SnapshotHost, path: bytes) -> Attributes:
    a = fs.getattr(ROOT_INODE)
    for part in path.split(b"/"):
        if part:
            found = fs.repo.lookup_attrs(a.ino, part)
            if found is None:
                raise errors.NotFound(f"{path!r} does not exist")
            a = found
    return a


def _plan(view: SnapshotView, top: Attributes, name: bytes) -> list[_Item]:
    """Every object of the tree under `top`, parents before children."""
    items = [_Item(top, None, name)]
    pending = [top] if stat.S_ISDIR(top.mode) else []
    while pending:
        d = pending.pop()
        after = 0
        while True:
            batch = view.readdir(d.ino, after, 1000)
            if not batch:
                break
            for off, child_name, a in batch:
                after = off
                items.append(_Item(a, d.ino, child_name))
                if stat.S_ISDIR(a.mode):
                    pending.append(a)
    return items


def _beside(fs: SnapshotHost, parent: int, name: bytes, label: bytes) -> bytes:
    for n in range(1, 1000):
        suffix = b" (" + label + (b")" if n == 1 else b" %d)" % n)
        candidate = name[: 255 - len(suffix)] + suffix
        if fs.repo.lookup(parent, candidate) is None:
            return candidate
    raise errors.AlreadyExists(f"no free name beside {name!r}")


async def restore(fs: SnapshotHost, view: SnapshotView, label: str, path: bytes,
                  to: bytes | None = None) -> RestoreResult:
    """Restore `path` of the snapshot `view` (see module docstring). Commits durably.

    Raises NotFound (path not in the snapshot, destination folder missing), AlreadyExists
    (`to` exists), NotADirectory, InvalidArgument (the root).
    """
    src_dir, src_name = split_path(path)
    top = view.resolve(path)
    items = _plan(view, top, src_name)
    gen = view.generation
    extents = {it.old.ino: fs.repo.extents_at(it.old.ino, gen)
               for it in items if stat.S_ISREG(it.old.mode)}
    chunks = [e.chunk for exts in extents.values() for e in exts]
    if chunks:
        await trio.to_thread.run_sync(fs.store.retain, chunks)
    try:
        # From here on no await: the destination checks and the new rows are one step.
        result = _create_rows(fs, view, label, items, extents, src_dir, src_name, to)
    except BaseException:
        # Retained but named by no row: give the references back at once.
        with trio.CancelScope(shield=True):
            if chunks:
                await trio.to_thread.run_sync(fs.store.release, chunks)
        raise
    await fs.commit()
    log.info("restored %r from snapshot %s to %r (%d objects)", path, label, result.path,
             result.files)
    return result


def _create_rows(fs: SnapshotHost, view: SnapshotView, label: str, items: list[_Item],
                 extents: dict[int, Any], src_dir: bytes, src_name: bytes,
                 to: bytes | None) -> RestoreResult:
    repo = fs.repo
    if to is not None:
        dest_dir, dest_name = split_path(to)
    else:
        dest_dir, dest_name = src_dir, src_name
    parent = resolve_live(fs, dest_dir)
    if not stat.S_ISDIR(parent.mode):
        raise errors.NotADirectory(f"{dest_dir!r} is not a directory")
    if repo.lookup(parent.ino, dest_name) is not None:
        if to is not None:
            raise errors.AlreadyExists(f"{to!r} exists already")
        dest_name = _beside(fs, parent.ino, dest_name, label.encode("utf-8"))
    now = time.time_ns()
    links: dict[int, int] = {}
    subdirs: dict[int, int] = {}
    for it in items:
        links[it.old.ino] = links.get(it.old.ino, 0) + 1
        if it.parent is not None and stat.S_ISDIR(it.old.mode):
            subdirs[it.parent] = subdirs.get(it.parent, 0) + 1
    new_ino: dict[int, int] = {}
    nbytes = 0
    for it in items:
        old = it.old
        target_parent = parent.ino if it.parent is None else new_ino[it.parent]
        name = dest_name if it.parent is None else it.name
        if old.ino in new_ino:  # another hard link to an inode restored already
            repo.insert_dentry(target_parent, name, new_ino[old.ino])
            continue
        ino = repo.allocate_ino()
        new_ino[old.ino] = ino
        nlink = 2 + subdirs.get(old.ino, 0) if stat.S_ISDIR(old.mode) else links[old.ino]
        repo.insert_inode(Attributes(ino, old.mode, old.uid, old.gid, nlink, old.size,
                                     old.rdev, old.atime_ns, old.mtime_ns, now, old.crtime_ns))
        repo.insert_dentry(target_parent, name, ino)
        for ext in extents.get(old.ino, ()):
            repo.set_extent(ino, ext.idx, ext.chunk, ext.length)
            nbytes += ext.length
        if stat.S_ISLNK(old.mode):
            target = repo.symlink_at(old.ino, view.generation)
            if target is not None:
                repo.insert_symlink(ino, target)
        for xname, value in repo.xattrs_at(old.ino, view.generation):
            repo.set_xattr(ino, xname, value)
    parent.mtime_ns = parent.ctime_ns = now
    if stat.S_ISDIR(items[0].old.mode):
        parent.nlink += 1
    repo.update_inode(parent)
    where = (dest_dir + b"/" + dest_name) if dest_dir else dest_name
    return RestoreResult(where, parent.ino, dest_name, new_ino[items[0].old.ino],
                         len(new_ino), nbytes)
