"""Shard writes that bypass the page cache (O_DIRECT), from one aligned buffer per member.

Why: a buffered shard write copies the shard into the page cache, and the fsync after it
then walks those pages again to write them back; for every GiB a file receives the store
writes 4/3 GiB of shards (p=1 on 4 members), and those two steps were about a third of the
daemon's CPU time per GiB written, on a machine where CPU time is what bounds the write
rows (docs/performance.md, "O_DIRECT shard writes"). With O_DIRECT the disk reads the
shard from our buffer; what it costs is one copy into a buffer aligned for the device,
because the chunks handed to the store (pyfuse3's `bytes`, parity outputs) are not.

Durability is unchanged: an O_DIRECT write may sit in the disk's volatile cache, and the
file's new size and blocks are metadata in the journal, so the put's fsync of the segment
file (nasfs.store.member_sync) is what makes it durable, exactly as for a buffered write,
and nothing is reported stored before that fsync returned.

Where O_DIRECT cannot be used the write is buffered as before, per file: a filesystem that
refuses O_DIRECT at open (EINVAL), a write whose offset or length is not a multiple of
ALIGN (segment offsets and shard sizes always are: nasfs.store.geometry), or a direct
write the filesystem refuses with EINVAL (a device needing more alignment than ALIGN).
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Sequence

from nasfs.store.member import MemberRoot
from nasfs.store.segments import write_all

# Offsets, lengths and the buffer's address are multiples of this: every block device's
# logical block size up to 4 KiB, and the page size, whatever stx_dio_*_align says.
ALIGN = 4096
# The aligned buffer's size: a longer shard is written in pieces of this size.
STAGING_BYTES = 4 << 20

Buffer = bytes | bytearray | memoryview


class SegmentFile:
    """One segment file opened for a put's writes: direct when the filesystem allows."""

    __slots__ = ("buffered_fd", "direct_fd", "name", "root")

    def __init__(self, root: MemberRoot, name: str, *, direct: bool) -> None:
        self.root = root
        self.name = name
        self.direct_fd: int | None = None
        self.buffered_fd: int | None = None
        flags = os.O_WRONLY | os.O_CREAT
        if direct:
            try:
                self.direct_fd = root.open(name, flags | os.O_DIRECT)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: this filesystem has no O_DIRECT
                    raise
        self.buffered_fd = root.open(name, flags)

    @property
    def fd(self) -> int:
        """A descriptor of the file for its fsync (either one syncs the whole file)."""
        fd = self.direct_fd if self.direct_fd is not None else self.buffered_fd
        assert fd is not None
        return fd

    def buffered(self) -> int:
        if self.buffered_fd is None:
            self.buffered_fd = self.root.open(self.name, os.O_WRONLY | os.O_CREAT)
        return self.buffered_fd

    def write(self, data: Buffer, offset: int, staging: Staging) -> None:
        """All of `data` at `offset`; OSError as a pwrite would raise it."""
        view = memoryview(data).cast("B")
        if self.direct_fd is not None and offset % ALIGN == 0:
            try:
                done = staging.write(self.direct_fd, view, offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                # The device wants more alignment than ALIGN: this file goes buffered.
                os.close(self.direct_fd)
                self.direct_fd = None
                done = 0
            view = view[done:]
            offset += done
        if view:
            write_all(self.buffered(), view, offset)

    def write_run(self, pieces: Sequence[Buffer], offset: int, staging: Staging) -> None:
        """`pieces` adjacent in the file from `offset` on, as one write where they fit the
        buffer and the alignment (one large direct write instead of one per piece: on the
        test machine's virtual disk 4 MiB direct writes ran at twice the rate of 1 MiB
        ones); otherwise piece by piece as `write`."""
        views = [memoryview(p).cast("B") for p in pieces]
        total = sum(len(v) for v in views)
        if (len(views) < 2 or self.direct_fd is None or offset % ALIGN or total % ALIGN
                or total > staging.size):
            for view in views:
                self.write(view, offset, staging)
                offset += len(view)
            return
        try:
            done = staging.write_gathered(self.direct_fd, views, offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            os.close(self.direct_fd)  # the device wants more alignment: buffered from now
            self.direct_fd = None
            done = 0
        if done < total:  # rare: a short or refused direct write; the rest goes buffered
            write_all(self.buffered(), b"".join(views)[done:], offset + done)

    def close(self) -> OSError | None:
        """Close both descriptors; the first error close reported (a deferred write error)."""
        first: OSError | None = None
        for fd in (self.direct_fd, self.buffered_fd):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError as exc:
                first = first or exc
        self.direct_fd = self.buffered_fd = None
        return first


class Staging:
    """A page-aligned buffer that direct writes go through (one per member write thread)."""

    def __init__(self, size: int = STAGING_BYTES) -> None:
        self._map = mmap.mmap(-1, size)  # anonymous: page-aligned, faulted in once, reused
        self._view = memoryview(self._map)
        self.size = size

    def write(self, fd: int, data: memoryview, offset: int) -> int:
        """Write the longest prefix of `data` whose length is a multiple of ALIGN through
        the buffer (offset is aligned); returns how many bytes that was."""
        total = len(data) - len(data) % ALIGN
        done = 0
        while done < total:
            n = min(total - done, len(self._view))
            self._view[:n] = data[done : done + n]
            wrote = self._write_out(fd, n, offset + done)
            if wrote < n:
                return done + wrote
            done += n
        return done

    def write_gathered(self, fd: int, pieces: Sequence[memoryview], offset: int) -> int:
        """Copy `pieces` one after another into the buffer (their total a multiple of
        ALIGN, at most its size) and write them at `offset` (aligned) as one write;
        returns how many bytes were written (short: the rest is for a buffered write)."""
        n = 0
        for piece in pieces:
            self._view[n : n + len(piece)] = piece
            n += len(piece)
        return self._write_out(fd, n, offset)

    def _write_out(self, fd: int, n: int, offset: int) -> int:
        """The buffer's first `n` bytes at `offset`; how many were written."""
        wrote = 0
        while wrote < n:
            got = os.pwrite(fd, self._view[wrote:n], offset + wrote)
            if got <= 0 or got % ALIGN:
                # A short write that ends off the alignment: the rest goes buffered.
                return wrote + max(got, 0)
            wrote += got
        return wrote

    def close(self) -> None:
        self._view.release()
        self._map.close()
