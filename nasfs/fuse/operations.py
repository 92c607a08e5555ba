"""The pyfuse3 Operations class: translates kernel requests into calls of the policy gate.

Thin on purpose: no SQL, no policy, no data handling. Each handler turns the request
context into a `Caller`, calls the `Gate` (nasfs.policy.gate: who may do what, logging,
trash, shadowing; it calls the filesystem), and converts `Attributes` into pyfuse3's
`EntryAttributes` with the cache timeouts the gate allows. Errors become `FUSEError` in
exactly one place (`_replying`), with the errno nasfs.fuse.errnos chooses.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Literal, cast

import pyfuse3
from pyfuse3 import EntryAttributes, FileInfo, FUSEError, RequestContext

from nasfs.fs import AttrChanges, Attributes, Caller
from nasfs.fuse.errnos import errno_for
from nasfs.policy.gate import ENTRY_TIMEOUT, Gate

log = logging.getLogger(__name__)

# All changes reach the volume through this kernel mount (one daemon owns the array), so
# the kernel's caches can be trusted for a while; negative entries are cached too. Entries
# whose visibility depends on the caller are not cached at all, snapshot content longer:
# the gate says which (`Gate.timeouts`, `Gate.negative_timeout`).


class _Replying:
    """The one place where errors become FUSE replies: `with _replying():` around a
    handler's work turns any Exception but FUSEError into FUSEError(errno_for(exc)).

    A class, not a @contextmanager generator: every request passes through it, and the
    generator's creation and its helper cost 1.2-1.5 us more per request."""

    __slots__ = ()

    def __call__(self) -> _Replying:
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None or isinstance(exc, FUSEError) or not isinstance(exc, Exception):
            return False  # nothing raised, a reply already, or trio's Cancelled and the like
        raise FUSEError(errno_for(exc)) from None


_replying = _Replying()


def _caller(ctx: RequestContext) -> Caller:
    return Caller(ctx.uid, ctx.gid, ctx.pid, ctx.umask)


def entry(
    a: Attributes, block_size: int, timeout: float = ENTRY_TIMEOUT,
    attr_timeout: float = ENTRY_TIMEOUT, blocks: int | None = None,
) -> EntryAttributes:
    """`a` for the kernel; `blocks` is st_blocks (default: from the size, as if dense)."""
    e = EntryAttributes()
    e.generation = 0
    e.st_blksize = block_size
    fill_entry(e, a, timeout, attr_timeout,
               (a.size + 511) // 512 if blocks is None else blocks)
    return e


def fill_entry(e: EntryAttributes, a: Attributes, timeout: float, attr_timeout: float,
               blocks: int) -> None:
    """Set every field of `e` that differs between entries (a listing reuses one `e`)."""
    e.st_ino = cast(pyfuse3.InodeT, a.ino)
    e.entry_timeout = timeout
    e.attr_timeout = attr_timeout
    e.st_mode = cast(pyfuse3.ModeT, a.mode)
    e.st_nlink = a.nlink
    e.st_uid = a.uid
    e.st_gid = a.gid
    e.st_rdev = a.rdev
    e.st_size = a.size
    e.st_blocks = blocks
    e.st_atime_ns = a.atime_ns
    e.st_mtime_ns = a.mtime_ns
    e.st_ctime_ns = a.ctime_ns
    e.st_birthtime_ns = a.crtime_ns


def _negative_entry(timeout: float) -> EntryAttributes:
    e = EntryAttributes()
    e.st_ino = cast(pyfuse3.InodeT, 0)
    e.entry_timeout = timeout
    return e


class Operations(pyfuse3.Operations):
    """pyfuse3 request handlers over one `Gate` (over one `Filesystem`)."""

    supports_dot_lookup = False
    enable_acl = False

    def __init__(self, gate: Gate, *, writeback_cache: bool = False) -> None:
        super().__init__()
        self.gate = gate
        self.enable_writeback_cache = writeback_cache
        self.block_size = self.gate.fs.data.record_size

    def _entry(self, a: Attributes, timeouts: tuple[float, float] | None = None,
               blocks: int | None = None) -> EntryAttributes:
        entry_timeout, attr_timeout = timeouts or self.gate.timeouts(a.ino)
        return entry(a, self.block_size, entry_timeout, attr_timeout,
                     self.gate.blocks(a) if blocks is None else blocks)

    # -- names ----------------------------------------------------------------------------

    async def lookup(
        self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, ctx: RequestContext
    ) -> EntryAttributes:
        with _replying():
            a = await self.gate.lookup(parent_inode, name, _caller(ctx))
            if a is not None:
                return self._entry(a)
            return _negative_entry(self.gate.negative_timeout(parent_inode))

    async def forget(self, inode_list: Sequence[tuple[pyfuse3.InodeT, int]]) -> None:
        with _replying():
            self.gate.forget(inode_list)

    async def getattr(self, inode: pyfuse3.InodeT, ctx: RequestContext) -> EntryAttributes:
        with _replying():
            return self._entry(await self.gate.getattr(inode, _caller(ctx)))

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
            return self._entry(await self.gate.setattr(inode, ch, _caller(ctx)))

    async def readlink(self, inode: pyfuse3.InodeT, ctx: RequestContext) -> pyfuse3.FileNameT:
        with _replying():
            return cast(pyfuse3.FileNameT, await self.gate.readlink(inode, _caller(ctx)))

    async def mknod(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        mode: pyfuse3.ModeT,
        rdev: int,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(
                await self.gate.mknod(parent_inode, name, mode, rdev, _caller(ctx)))

    async def mkdir(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        mode: pyfuse3.ModeT,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(await self.gate.mkdir(parent_inode, name, mode, _caller(ctx)))

    async def unlink(
        self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, ctx: RequestContext
    ) -> None:
        with _replying():
            await self.gate.unlink(parent_inode, name, _caller(ctx))

    async def rmdir(
        self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, ctx: RequestContext
    ) -> None:
        with _replying():
            await self.gate.rmdir(parent_inode, name, _caller(ctx))

    async def symlink(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        target: pyfuse3.FileNameT,
        ctx: RequestContext,
    ) -> EntryAttributes:
        with _replying():
            return self._entry(
                await self.gate.symlink(parent_inode, name, target, _caller(ctx)))

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
            await self.gate.rename(
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
            return self._entry(
                await self.gate.link(inode, new_parent_inode, new_name, _caller(ctx)))

    # -- files ----------------------------------------------------------------------------
    # File handles are the gate's: one per open, so bytes can be counted per open.

    async def open(
        self, inode: pyfuse3.InodeT, flags: pyfuse3.FlagT, ctx: RequestContext
    ) -> FileInfo:
        with _replying():
            fh = await self.gate.open(inode, flags, _caller(ctx))
            return FileInfo(fh=cast(pyfuse3.FileHandleT, fh), keep_cache=True)

    async def create(
        self,
        parent_inode: pyfuse3.InodeT,
        name: pyfuse3.FileNameT,
        mode: pyfuse3.ModeT,
        flags: pyfuse3.FlagT,
        ctx: RequestContext,
    ) -> tuple[FileInfo, EntryAttributes]:
        with _replying():
            fh, a = await self.gate.create(parent_inode, name, mode, flags, _caller(ctx))
            # A file just created holds no records yet: st_blocks 0 without asking the
            # extents (one statement fewer per create).
            return (FileInfo(fh=cast(pyfuse3.FileHandleT, fh), keep_cache=True),
                    self._entry(a, blocks=0))

    async def read(self, fh: pyfuse3.FileHandleT, off: int, size: int) -> bytes:
        with _replying():
            return await self.gate.read(fh, off, size)

    async def write(self, fh: pyfuse3.FileHandleT, off: int, buf: bytes) -> int:
        with _replying():
            return await self.gate.write(fh, off, buf)

    async def flush(self, fh: pyfuse3.FileHandleT) -> None:
        # close(2) does not promise durability; data stays buffered until fsync, the group
        # commit or unmount (all of which flush it). So FLUSH has nothing to do here, and
        # ENOSYS makes the kernel stop sending it (fc->no_flush): one request fewer per
        # close. The kernel still writes back its own dirty pages (writeback cache) before
        # it would have sent FLUSH, and no POSIX locks are kept here (they are the kernel's).
        raise FUSEError(errno.ENOSYS)

    async def release(self, fh: pyfuse3.FileHandleT) -> None:
        with _replying():
            await self.gate.release(fh)

    async def fsync(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        with _replying():
            await self.gate.fsync(fh, datasync)

    # fallocate and lseek reach here only with the pyfuse3 that scripts/setup builds
    # (third_party/pyfuse3): the released one has no handlers for them, and the kernel then
    # answers EOPNOTSUPP for fallocate and treats every file as all data for SEEK_DATA.

    async def fallocate(self, fh: pyfuse3.FileHandleT, mode: int, off: int,
                        length: int) -> None:
        with _replying():
            await self.gate.fallocate(fh, mode, off, length)

    async def lseek(self, fh: pyfuse3.FileHandleT, off: int, whence: int) -> int:
        with _replying():
            return self.gate.seek(fh, off, whence)

    # -- directories ----------------------------------------------------------------------

    async def opendir(self, inode: pyfuse3.InodeT, ctx: RequestContext) -> pyfuse3.FileHandleT:
        with _replying():
            return cast(pyfuse3.FileHandleT, await self.gate.opendir(inode, _caller(ctx)))

    async def readdir(
        self, fh: pyfuse3.FileHandleT, start_id: int, token: pyfuse3.ReaddirToken
    ) -> None:
        # Offsets come from the gate (dentry ids, shifted behind virtual entries), so entries
        # added or removed during a listing never make it skip or repeat the others.
        gate = self.gate
        reply = pyfuse3.readdir_reply
        # One EntryAttributes for the whole listing: readdir_reply copies it into the reply
        # buffer, so each entry only sets its own fields (no object per entry).
        e = EntryAttributes()
        e.generation = 0
        e.st_blksize = self.block_size
        with _replying():
            after = start_id
            while True:
                batch = gate.readdir(fh, after)
                if not batch:
                    return
                taken = 0
                for item in batch:
                    a = item.attrs
                    entry_timeout, attr_timeout = item.timeouts or gate.timeouts(a.ino)
                    fill_entry(e, a, entry_timeout, attr_timeout,
                               gate.blocks(a) if item.blocks is None else item.blocks)
                    if not reply(token, cast(pyfuse3.FileNameT, item.name), e, item.offset):
                        break
                    taken += 1
                # readdirplus hands the kernel a reference on each entry it took.
                gate.listed_batch(fh, batch[:taken])
                if taken < len(batch):
                    return
                after = batch[-1].offset

    async def releasedir(self, fh: pyfuse3.FileHandleT) -> None:
        self.gate.releasedir(fh)

    async def fsyncdir(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        with _replying():
            await self.gate.fsyncdir(fh)

    async def statfs(self, ctx: RequestContext) -> pyfuse3.StatvfsData:
        with _replying():
            s = self.gate.fs.statfs()
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
            await self.gate.getattr(inode, _caller(ctx))
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
            await self.gate.setxattr(inode, name, value, _caller(ctx))

    async def getxattr(
        self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT, ctx: RequestContext
    ) -> bytes:
        with _replying():
            return await self.gate.getxattr(inode, name, _caller(ctx))

    async def listxattr(
        self, inode: pyfuse3.InodeT, ctx: RequestContext
    ) -> Sequence[pyfuse3.XAttrNameT]:
        with _replying():
            names = await self.gate.listxattr(inode, _caller(ctx))
            return [cast(pyfuse3.XAttrNameT, n) for n in names]

    async def removexattr(
        self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT, ctx: RequestContext
    ) -> None:
        with _replying():
            await self.gate.removexattr(inode, name, _caller(ctx))


__all__ = ["Operations", "entry"]
