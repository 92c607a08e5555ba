"""The pyfuse3 Operations class: translates kernel requests into nasfs.fs calls.

Thin on purpose: no SQL, no policy, no data handling. Each handler turns the request
context into a `Caller`, calls the filesystem, and converts `Attributes` into pyfuse3's
`EntryAttributes`. Errors become `FUSEError` in exactly one place (`_replying`).

The policy layer (a later issue) will sit between this class and `Filesystem`; every call
already carries the `Caller` it needs.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator, Sequence
from typing import cast

import pyfuse3
from pyfuse3 import EntryAttributes, FileInfo, FUSEError, RequestContext

from nasfs.errors import NasfsError
from nasfs.fs import AttrChanges, Attributes, Caller, Filesystem

log = logging.getLogger(__name__)

# All changes reach the volume through this kernel mount (one daemon owns the array), so
# the kernel's caches can be trusted for a while; negative entries are cached too.
ENTRY_TIMEOUT = 60.0
ATTR_TIMEOUT = 60.0


@contextlib.contextmanager
def _replying() -> Iterator[None]:
    """The one place where errors become FUSE replies."""
    try:
        yield
    except FUSEError:
        raise
    except NasfsError as exc:
        raise FUSEError(exc.errno) from None
    except Exception:
        log.exception("internal error while serving a request")
        raise FUSEError(errno.EIO) from None


def _caller(ctx: RequestContext) -> Caller:
    return Caller(ctx.uid, ctx.gid, ctx.pid, ctx.umask)


def entry(a: Attributes, block_size: int) -> EntryAttributes:
    e = EntryAttributes()
    e.st_ino = cast(pyfuse3.InodeT, a.ino)
    e.generation = 0
    e.entry_timeout = ENTRY_TIMEOUT
    e.attr_timeout = ATTR_TIMEOUT
    e.st_mode = cast(pyfuse3.ModeT, a.mode)
    e.st_nlink = a.nlink
    e.st_uid = a.uid
    e.st_gid = a.gid
    e.st_rdev = a.rdev
    e.st_size = a.size
    e.st_blksize = block_size
    e.st_blocks = (a.size + 511) // 512
    e.st_atime_ns = a.atime_ns
    e.st_mtime_ns = a.mtime_ns
    e.st_ctime_ns = a.ctime_ns
    e.st_birthtime_ns = a.crtime_ns
    return e


def _negative_entry() -> EntryAttributes:
    e = EntryAttributes()
    e.st_ino = cast(pyfuse3.InodeT, 0)
    e.entry_timeout = ENTRY_TIMEOUT
    return e


class Operations(pyfuse3.Operations):
    """pyfuse3 request handlers over one `Filesystem`."""

    supports_dot_lookup = False
    enable_acl = False

    def __init__(self, fs: Filesystem, *, writeback_cache: bool = False) -> None:
        super().__init__()
        self.fs = fs
        self.enable_writeback_cache = writeback_cache
        self.block_size = fs.data.record_size

    def _entry(self, a: Attributes) -> EntryAttributes:
        return entry(a, self.block_size)

    # -- names ----------------------------------------------------------------------------

    async def lookup(
        self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, ctx: RequestContext
    ) -> EntryAttributes:
        with _replying():
            a = self.fs.lookup(parent_inode, name, _caller(ctx))
            return _negative_entry() if a is None else self._entry(a)

    async def forget(self, inode_list: Sequence[tuple[pyfuse3.InodeT, int]]) -> None:
        with _replying():
            for ino, n in inode_list:
                self.fs.forget(ino, n)

    async def getattr(self, inode: pyfuse3.InodeT, ctx: RequestContext) -> EntryAttributes:
        with _replying():
            return self._entry(self.fs.getattr(inode))

    async def setattr(
        self,
        inode: pyfuse3.InodeT,
        attr: EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: pyfuse3.FileHandleT | None,
        ctx: RequestContext,
    ) -> EntryAttributes:
        ch = AttrChanges(
            mode=attr.st_mode if fields.update_mode else None,
            uid=attr.st_uid if fields.update_uid else None,
            gid=attr.st_gid if fields.update_gid else None,
            size=attr.st_size if fields.update_size else None,
            atime_ns=attr.st_atime_ns if fields.update_atime else None,
            mtime_ns=attr.st_mtime_ns if fields.update_mtime else None,
            ctime_ns=attr.st_ctime_ns if fields.update_ctime else None,
        )
        with _replying():
            return self._entry(await self.fs.setattr(inode, ch, _caller(ctx)))

    async def readlink(self, inode: pyfuse3.InodeT, ctx: RequestContext) -> pyfuse3.FileNameT:
        with _replying():
            return cast(pyfuse3.FileNameT, self.fs.readlink(inode))

    async def mknod(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        mode: pyfuse3.ModeT,
        rdev: int,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(self.fs.mknod(parent_inode, name, mode, rdev, _caller(ctx)))

    async def mkdir(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        mode: pyfuse3.ModeT,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(self.fs.mkdir(parent_inode, name, mode, _caller(ctx)))

    async def unlink(
        self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, ctx: RequestContext
    ) -> None:
        with _replying():
            self.fs.unlink(parent_inode, name, _caller(ctx))

    async def rmdir(
        self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, ctx: RequestContext
    ) -> None:
        with _replying():
            self.fs.rmdir(parent_inode, name, _caller(ctx))

    async def symlink(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        target: pyfuse3.FileNameT,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(self.fs.symlink(parent_inode, name, target, _caller(ctx)))

    async def rename(
        self,
        parent_inode_old: pyfuse3.InodeT,
        name_old: pyfuse3.FileNameT,
        parent_inode_new: pyfuse3.InodeT,
        name_new: pyfuse3.FileNameT,
        flags: pyfuse3.FlagT,
        ctx: RequestContext,
    ) -> None:
        with _replying():
            self.fs.rename(
                parent_inode_old, name_old, parent_inode_new, name_new, flags, _caller(ctx)
            )

    async def link(
        self,
        inode: pyfuse3.InodeT,
        new_parent_inode: pyfuse3.InodeT,
        new_name: pyfuse3.FileNameT,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(self.fs.link(inode, new_parent_inode, new_name, _caller(ctx)))

    # -- files ----------------------------------------------------------------------------
    # The file handle is the inode number: no per-handle state is needed (the kernel turns
    # O_APPEND into offsets and checks access modes).

    async def open(
        self, inode: pyfuse3.InodeT, flags: pyfuse3.FlagT, ctx: RequestContext
    ) -> FileInfo:
        with _replying():
            await self.fs.open_file(inode, flags, _caller(ctx))
            return FileInfo(fh=cast(pyfuse3.FileHandleT, inode), keep_cache=True)

    async def create(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        mode: pyfuse3.ModeT,
        flags: pyfuse3.FlagT,
        ctx: RequestContext,
    ) -> tuple[FileInfo, EntryAttributes]:
        with _replying():
            a = self.fs.create(parent_inode, name, mode, _caller(ctx))
            return FileInfo(fh=cast(pyfuse3.FileHandleT, a.ino), keep_cache=True), self._entry(a)

    async def read(self, fh: pyfuse3.FileHandleT, off: int, size: int) -> bytes:
        with _replying():
            return await self.fs.read(fh, off, size)

    async def write(self, fh: pyfuse3.FileHandleT, off: int, buf: bytes) -> int:
        with _replying():
            return await self.fs.write(fh, off, buf)

    async def flush(self, fh: pyfuse3.FileHandleT) -> None:
        # close(2) does not promise durability; data stays buffered until fsync, the group
        # commit or unmount (all of which flush it).
        return None

    async def release(self, fh: pyfuse3.FileHandleT) -> None:
        with _replying():
            await self.fs.release(fh)

    async def fsync(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        with _replying():
            await self.fs.fsync(fh, datasync)

    # -- directories ----------------------------------------------------------------------

    async def opendir(self, inode: pyfuse3.InodeT, ctx: RequestContext) -> pyfuse3.FileHandleT:
        with _replying():
            self.fs.opendir(inode)
            return cast(pyfuse3.FileHandleT, inode)

    async def readdir(
        self, fh: pyfuse3.FileHandleT, start_id: int, token: pyfuse3.ReaddirToken
    ) -> None:
        # Offsets are dentry ids, so entries added or removed during a listing never make
        # it skip or repeat the others.
        with _replying():
            after = start_id
            while True:
                batch = self.fs.readdir(fh, after)
                if not batch:
                    return
                for entry_id, name, a in batch:
                    if not pyfuse3.readdir_reply(
                        token, cast(pyfuse3.FileNameT, name), self._entry(a), entry_id
                    ):
                        return
                    self.fs.remember(a.ino)  # readdirplus hands the kernel a reference
                    after = entry_id

    async def releasedir(self, fh: pyfuse3.FileHandleT) -> None:
        return None

    async def fsyncdir(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        with _replying():
            await self.fs.fsyncdir(fh)

    async def statfs(self, ctx: RequestContext) -> pyfuse3.StatvfsData:
        with _replying():
            s = self.fs.statfs()
            out = pyfuse3.StatvfsData()
            out.f_bsize = s.block_size
            out.f_frsize = s.block_size
            out.f_blocks = s.blocks
            out.f_bfree = s.blocks_free
            out.f_bavail = s.blocks_available
            out.f_files = s.files
            out.f_ffree = s.files_free
            out.f_favail = s.files_free
            out.f_namemax = s.name_max
            return out

    async def access(
        self, inode: pyfuse3.InodeT, mode: pyfuse3.ModeT, ctx: RequestContext
    ) -> bool:
        # Only reached without default_permissions; the kernel checks otherwise.
        with _replying():
            self.fs.getattr(inode)
            return True

    # -- xattrs ---------------------------------------------------------------------------

    async def setxattr(
        self,
        inode: pyfuse3.InodeT,
        name: pyfuse3.XAttrNameT,
        value: bytes,
        ctx: RequestContext,
    ) -> None:
        with _replying():
            self.fs.setxattr(inode, name, value, _caller(ctx))

    async def getxattr(
        self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT, ctx: RequestContext
    ) -> bytes:
        with _replying():
            return self.fs.getxattr(inode, name)

    async def listxattr(
        self, inode: pyfuse3.InodeT, ctx: RequestContext
    ) -> Sequence[pyfuse3.XAttrNameT]:
        with _replying():
            return [cast(pyfuse3.XAttrNameT, n) for n in self.fs.listxattr(inode)]

    async def removexattr(
        self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT, ctx: RequestContext
    ) -> None:
        with _replying():
            self.fs.removexattr(inode, name, _caller(ctx))


__all__ = ["Operations", "entry"]
