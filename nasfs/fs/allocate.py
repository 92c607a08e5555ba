"""fallocate(2) and lseek(2) SEEK_DATA/SEEK_HOLE over the records of a file.

A file is records of `record_size` bytes (nasfs.fs.data); a record with no extent row and
no buffer is a hole. The modes, as ext4 has them:

- 0 and FALLOC_FL_KEEP_SIZE allocate: every record the range touches is reserved up to
  the range's end within it (nasfs.fs.reserve), charged against free space, so later
  writes into the range cannot fail for space; a record already that long holds its
  space. Without KEEP_SIZE the file grows to the range's end.
- FALLOC_FL_PUNCH_HOLE (only with KEEP_SIZE, as on Linux): records the range covers
  whole are dropped (their space comes back after the next commit, st_blocks drops at
  once); a record it covers in part is rewritten with the range zeroed, or cut short when
  the range reaches its end. The size never changes.
- FALLOC_FL_ZERO_RANGE (with or without KEEP_SIZE): the range is punched, then allocated.

Every other mode (COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE, ...) is EOPNOTSUPP.
Punching works on DataPath's buffers the way its truncation does (same lock, same charging
helpers), so it uses DataPath's private helpers: this module is that class's extension,
kept apart to keep nasfs.fs.data about reading and writing.

SEEK_DATA/SEEK_HOLE see the same records: data is what a record holds, stored or
buffered, from the record's start to its length; the rest is hole, and so are allocated
records nothing has written (ext4 reports its unwritten extents as holes too). An offset
at or past the end of the file, or a SEEK_DATA with no data after it, is ENXIO.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from nasfs.fs import errors
from nasfs.fs.data import DataPath, FileBuffers
from nasfs.fs.repository import Attributes

if TYPE_CHECKING:
    from nasfs.fs.hosts import FileHost

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
SUPPORTED_MODES = frozenset({
    0,
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_ZERO_RANGE,
    FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
})
MAX_FILE_SIZE = 1 << 62  # as Filesystem.write
EXTENT_PAGE = 512  # extent rows read per query while walking a file


def check_mode(mode: int) -> None:
    """EOPNOTSUPP for the modes not implemented (PUNCH_HOLE needs KEEP_SIZE, as on Linux)."""
    if mode not in SUPPORTED_MODES:
        raise errors.NotSupported(f"fallocate mode {mode:#x} is not supported")


async def fallocate(fs: FileHost, ino: int, mode: int, off: int, length: int) -> Attributes:
    """Apply fallocate `mode` to `length` bytes at `off` of regular file `ino` (see the
    module docstring); returns its attributes after."""
    check_mode(mode)
    if off < 0 or length <= 0:
        raise errors.InvalidArgument(f"fallocate of {length} bytes at offset {off}")
    end = off + length
    if end > MAX_FILE_SIZE:
        raise errors.FileTooBig(f"fallocate to offset {end} exceeds the maximum file size")
    a = fs.getattr(ino)
    if stat.S_ISDIR(a.mode):
        raise errors.IsADirectory(f"inode {ino} is a directory")
    if not stat.S_ISREG(a.mode):
        raise errors.NotSupported(f"inode {ino} is not a regular file")
    data = fs.data
    if data.write_gate is not None:
        await data.wait_write_gate()
    if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
        await _clear(data, ino, off, end)
    if not mode & FALLOC_FL_PUNCH_HOLE:
        _reserve(data, ino, off, end)
    a = fs.getattr(ino)  # re-read after the awaits
    grows = not mode & FALLOC_FL_KEEP_SIZE and end > a.size
    if grows:
        a.size = end
    if grows or mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
        a.mtime_ns = a.ctime_ns = time.time_ns()
        fs.repo.update_inode(a)
    return a


def _lengths(data: DataPath, ino: int, first: int, last: int) -> dict[int, int]:
    """Length of every record `first..last` of `ino` that holds data (buffered records
    before stored ones: they are newer)."""
    found: dict[int, int] = {}
    cursor = first
    while cursor <= last:
        page = data.repo.extents_between(ino, cursor, last, EXTENT_PAGE)
        found.update((e.idx, e.length) for e in page)
        if len(page) < EXTENT_PAGE:
            break
        cursor = page[-1].idx + 1
    fb = data.files.get(ino)
    if fb is not None:
        for buffered in (fb.flushing, fb.dirty):
            found.update((i, len(r)) for i, r in buffered.items() if first <= i <= last)
    return found


def _reserve(data: DataPath, ino: int, off: int, end: int) -> None:
    """Hold space for every record of `[off, end)` up to the range's end within it; all or
    nothing (NoSpace and nothing changed). No await: atomic for other requests."""
    rs = data.record_size
    first, last = off // rs, (end - 1) // rs
    have = _lengths(data, ino, first, last)
    for idx, held in data.reservations.of(ino).items():  # reserved already: nothing new
        if first <= idx <= last and held > have.get(idx, 0):
            have[idx] = held
    free = data.space.figures().free_bytes
    if end - off - sum(have.values()) > free:
        # Hopeless (what is new needs more than all that is free, before parity): say so
        # before walking a range that may be huge.
        raise errors.NoSpace(f"the array has {free} bytes free; fallocate asks {end - off}")
    fb = data.files.get(ino)
    cost = data.space.cost
    wanted: dict[int, int] = {}
    pads: dict[int, int] = {}
    for idx in range(first, last + 1):
        reach = min(rs, end - idx * rs)
        if have.get(idx, 0) >= reach:
            continue
        if fb is not None and idx in fb.dirty:
            pads[idx] = reach  # a buffered record grows now instead of being reserved
        else:
            wanted[idx] = reach
    extra = sum(cost(n) - cost(len(fb.dirty[i])) for i, n in pads.items()) if fb else 0
    data.reservations.hold(ino, wanted, extra=extra)
    if fb is None:
        return
    for idx, reach in pads.items():  # charged above with the reservations
        rec = fb.writable(idx)
        grown = reach - len(rec)
        rec.extend(bytes(grown))
        fb.nbytes += grown
        data.dirty_bytes += grown


async def _clear(data: DataPath, ino: int, off: int, end: int) -> None:
    """Make `[off, end)` of `ino` a hole (see the module docstring), under the file's
    lock like a truncation, so no flush of it runs meanwhile."""
    fb = data.buffers(ino)
    fb.pins += 1
    try:
        async with fb.lock:
            fb.truncating = True
            try:
                await _clear_locked(data, ino, fb, off, end)
            finally:
                fb.truncating = False
    finally:
        fb.pins -= 1
    data._forget_if_idle(ino, fb)


async def _clear_locked(data: DataPath, ino: int, fb: FileBuffers, off: int,
                        end: int) -> None:
    rs = data.record_size
    first, last = off // rs, (end - 1) // rs
    touched = set(_lengths(data, ino, first, last))
    touched.update(i for i in data.reservations.of(ino) if first <= i <= last)
    for idx in sorted(touched):
        start = idx * rs
        lo, hi = max(off, start) - start, min(end, start + rs) - start
        if lo == 0 and hi == rs:  # the whole record goes
            data.reservations.take(ino, idx)
            if idx in fb.dirty:
                data._drop_dirty(fb, idx)
            data.release_after_commit += data.repo.delete_extent(ino, idx)
            continue
        if hi >= data.reservations.held(ino, idx):
            data.reservations.shrink(ino, idx, lo)
        rec = fb.writable(idx) if idx in fb.dirty else None
        if rec is None:
            ext = data.repo.get_extent(ino, idx)
            if ext is None or ext.length <= lo:
                continue  # nothing stored in the range
            rec = await data._dirty_record(ino, fb, idx)
        if lo >= len(rec):
            continue
        if hi >= len(rec):  # the range reaches the record's end: cut it short
            data._charge(len(rec), lo)
            shrink = len(rec) - lo
            del rec[lo:]
            fb.nbytes -= shrink
            data.dirty_bytes -= shrink
        else:
            rec[lo:hi] = bytes(hi - lo)


def _regions(data: DataPath, ino: int, first: int, size: int) -> Iterator[tuple[int, int]]:
    """`[start, stop)` of the data of each record from `first` on, in order, within
    `size`."""
    rs = data.record_size
    last = (size - 1) // rs
    cursor = first
    while cursor <= last:
        page_last = min(last, cursor + EXTENT_PAGE * 8 - 1)
        lengths = _lengths(data, ino, cursor, page_last)
        for idx in sorted(lengths):
            if lengths[idx] > 0:
                yield idx * rs, min(idx * rs + lengths[idx], size)
        cursor = page_last + 1


def seek(fs: FileHost, ino: int, off: int, whence: int) -> int:
    """lseek(2) SEEK_DATA / SEEK_HOLE of file `ino` from `off` (module docstring)."""
    size = fs.getattr(ino).size
    check_seek(off, whence, size)
    return find(_regions(fs.data, ino, off // fs.data.record_size, size), off, size, whence)


def check_seek(off: int, whence: int, size: int) -> None:
    """EINVAL for a whence other than SEEK_DATA/SEEK_HOLE; ENXIO outside the file."""
    if whence not in (os.SEEK_DATA, os.SEEK_HOLE):
        raise errors.InvalidArgument(f"lseek whence {whence} is not SEEK_DATA or SEEK_HOLE")
    if off < 0 or off >= size:
        raise errors.NoSuchOffset(f"offset {off} is not inside the file ({size} bytes)")


def find(regions: Iterable[tuple[int, int]], off: int, size: int, whence: int) -> int:
    """The answer to SEEK_DATA/SEEK_HOLE from `off` over the data `regions` (`[start,
    stop)` in order, within `size`), for a checked `off` (check_seek)."""
    pos = off
    for start, stop in regions:
        if stop <= pos:
            continue
        if whence == os.SEEK_DATA:
            return max(pos, start)
        if start > pos:
            return pos  # a hole before this record's data
        pos = stop
    if whence == os.SEEK_DATA:
        raise errors.NoSuchOffset(f"no data after offset {off}")
    return min(pos, size)


__all__ = ["FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE", "FALLOC_FL_ZERO_RANGE",
           "check_mode", "check_seek", "fallocate", "find", "seek"]
