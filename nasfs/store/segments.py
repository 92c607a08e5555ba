"""Segment files: `MEMBER/nasfs/segments/%08d.seg`, one per segment on every member.

Files are opened per operation rather than cached: a read racing with compaction either
opens the old file (still readable after unlink) or fails to open it and looks the chunk
up again, and no descriptor can be closed under another thread's feet.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from nasfs.durable import fsync_dir
from nasfs.store.member import SEGMENTS_DIR, MemberRoot

log = logging.getLogger(__name__)


def segments_dir(member: Path) -> Path:
    return member / "nasfs" / SEGMENTS_DIR


def segment_path(member: Path, segment: int) -> Path:
    return segments_dir(member) / f"{segment:08d}.seg"


def segment_name(segment: int) -> str:
    """The segment file's path relative to the member's `nasfs/` folder."""
    return f"{SEGMENTS_DIR}/{segment:08d}.seg"


def read_range(member: Path, segment: int, offset: int, length: int) -> bytes:
    """Exactly `length` bytes at `offset`; OSError (EIO for a short read) otherwise."""
    fd = os.open(segment_path(member, segment), os.O_RDONLY)
    try:
        data = os.pread(fd, length, offset)
        if len(data) != length:
            # A hole past the end (crashed tail, truncated file) is a damaged shard.
            raise OSError(errno.EIO, f"short read ({len(data)} of {length} bytes)")
        return data
    finally:
        os.close(fd)


def read_ranges(member: Path, segment: int, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    fd = os.open(segment_path(member, segment), os.O_RDONLY)
    try:
        out = []
        for offset, length in ranges:
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise OSError(errno.EIO, f"short read ({len(data)} of {length} bytes)")
            out.append(data)
        return out
    finally:
        os.close(fd)


def write_all(fd: int, data: memoryview | bytes | bytearray, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def rewrite_range(
    member: MemberRoot, segment: int, offset: int, data: bytes | memoryview, *,
    create: bool = False
) -> None:
    """Self-heal: put back known-good bytes at `offset`, fsynced, in the pinned member.

    Creates a lost file only with `create` (scrub, which excludes compaction): a heal racing
    with compaction must not resurrect a deleted segment. Refuses a member that is no
    longer the one assembled (see nasfs.store.member).
    """
    problem = member.problem()
    if problem is not None:
        raise OSError(errno.ENODEV, problem)
    flags = os.O_WRONLY | (os.O_CREAT if create else 0)
    fd = member.open(segment_name(segment), flags)
    try:
        write_all(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def list_segment_files(member: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(segments_dir(member)))
    except FileNotFoundError:
        return found
    for entry in entries:
        stem, dot, ext = entry.name.partition(".")
        if dot and ext == "seg" and stem.isdigit():
            found[int(stem)] = Path(entry.path)
    return found


def delete_segment(member: Path, segment: int) -> None:
    try:
        os.unlink(segment_path(member, segment))
    except FileNotFoundError:
        return
    fsync_dir(segments_dir(member))
