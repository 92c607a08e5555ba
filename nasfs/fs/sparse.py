"""How much of a file is stored, as allocation-aware tools ask: st_blocks.

A file is records of `record_size` bytes; a record with no extent row is a hole and
all-zero records are never stored (nasfs.fs.data), so what a file holds is the stored
records plus the records buffered for it and not yet flushed. `du`, `cp --sparse`, `tar -S`
and backup tools read st_blocks; reporting the size instead made every hole look written.
"""

from __future__ import annotations

from nasfs.fs.data import DataPath


def _blocks(nbytes: int) -> int:
    return (nbytes + 511) // 512


def allocated_blocks(data: DataPath, ino: int, stored: int | None = None) -> int:
    """512-byte blocks file `ino` holds: stored records, corrected by buffered ones (a
    buffered record counts as written, as delayed allocation does on ext4) and by reserved
    ones (fallocated and not yet written, as ext4 counts its unwritten extents).
    `stored`: the stored records' blocks, if the caller read them already (a listing)."""
    blocks = data.repo.allocated_blocks(ino) if stored is None else stored
    fb = data.files.get(ino)
    for idx, length in data.reservations.of(ino).items():
        if fb is not None and idx in fb.flushing:  # counted below, up to its own length
            blocks += max(0, _blocks(length) - _blocks(len(fb.flushing[idx])))
            continue
        ext = data.repo.get_extent(ino, idx)
        blocks += max(0, _blocks(length) - (_blocks(ext.length) if ext is not None else 0))
    if fb is None:
        return blocks
    for idx in {*fb.flushing, *fb.dirty}:
        rec = fb.dirty.get(idx)
        if rec is None:
            rec = fb.flushing[idx]
        ext = data.repo.get_extent(ino, idx)
        blocks += _blocks(len(rec)) - (_blocks(ext.length) if ext is not None else 0)
    return blocks
