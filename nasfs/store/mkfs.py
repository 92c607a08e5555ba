"""mkfs: make a new array on empty member directories (`Store.create`)."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from nasfs.store.errors import MkfsError
from nasfs.store.label import ArrayLabel, nasfs_dir, write_label
from nasfs.store.member import prepare_member
from nasfs.store.space import member_shares

log = logging.getLogger(__name__)

MIN_MEMBERS = 3
MAX_MEMBERS = 16
MAX_SEGMENT_BYTES = 256 << 20


def default_segment_bytes(members: Sequence[Path], max_shard_bytes: int) -> int:
    """1/64 of the smallest member's share of its filesystem, within [shard, 256 MiB]."""
    shares = member_shares(dict(enumerate(members)))
    smallest = min((sh.size_bytes for sh in shares), default=MAX_SEGMENT_BYTES * 64)
    wanted = min(MAX_SEGMENT_BYTES, smallest // 64) // max_shard_bytes * max_shard_bytes
    return max(max_shard_bytes, wanted)


def make_array(
    members: Sequence[Path],
    nparity: int,
    *,
    force: bool = False,
    segment_bytes: int | None = None,
    max_shard_bytes: int = 1 << 20,
) -> ArrayLabel:
    """Make a new array on 3-16 empty directories (mkfs); returns its label.

    `segment_bytes` defaults to 1/64 of the smallest member's space, between one shard
    and 256 MiB: compaction copies a segment's live data before it frees the segment,
    so a segment must be small beside the reserve (nasfs.store.space), or a small,
    full array could never compact.
    """
    members = [Path(m) for m in members]
    if nparity not in (1, 2):
        raise MkfsError(f"parity must be 1 or 2, not {nparity}")
    if not MIN_MEMBERS <= len(members) <= MAX_MEMBERS:
        raise MkfsError(
            f"an array needs {MIN_MEMBERS} to {MAX_MEMBERS} member directories, "
            f"{len(members)} given"
        )
    if len(members) - nparity < 2:
        raise MkfsError(f"parity {nparity} needs at least {nparity + 2} members")
    seen: set[str] = set()
    for m in members:
        real = os.path.realpath(m)
        if real in seen:
            raise MkfsError(f"{m} is given twice")
        seen.add(real)
        if not m.is_dir():
            raise MkfsError(f"{m} is not a directory (create it, or mount the disk there)")
        if any(True for e in os.scandir(m) if e.name != "lost+found") and not force:
            raise MkfsError(
                f"{m} is not empty; refusing to make an array on it (use --force to "
                "overwrite its nasfs data; other files are left alone)"
            )
    if segment_bytes is None:
        segment_bytes = default_segment_bytes(members, max_shard_bytes)
    if segment_bytes < max_shard_bytes or max_shard_bytes % 4096:
        raise MkfsError("segment size must be >= the shard size, a multiple of 4 KiB")
    member_uuids = tuple(uuid.uuid4().hex for _ in members)
    label = ArrayLabel(
        array_uuid=uuid.uuid4().hex,
        member_uuid=member_uuids[0],
        index=0,
        member_count=len(members),
        nparity=nparity,
        members=member_uuids,
        generation=1,
        epoch=uuid.uuid4().hex,
        epoch_started=time.time(),
        segment_bytes=segment_bytes,
        max_shard_bytes=max_shard_bytes,
    )
    for i, m in enumerate(members):
        if force and nasfs_dir(m).exists():
            import shutil

            shutil.rmtree(nasfs_dir(m))
        prepare_member(m)
        write_label(m, label.for_member(i))
    log.info("created array %s on %d members, parity %d", label.array_uuid,
             len(members), nparity)
    return label
