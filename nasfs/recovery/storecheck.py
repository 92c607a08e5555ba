"""Read-only checks of the stripes: segment files present, stripes readable and consistent.

A light check looks at a sample of stripes spread over the whole catalog; `--full` looks
at every one. Nothing is rewritten (scrub does the repairs); shards that are only missing
because their member is missing are not counted against a stripe (the array is degraded,
which the member check reports once).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

from nasfs.recovery import catalog_read
from nasfs.recovery.findings import Finding
from nasfs.store.disks import disk_name
from nasfs.store.geometry import shard_member
from nasfs.store.segments import segment_path
from nasfs.store.stripecheck import check_stripe, read_stripe

log = logging.getLogger(__name__)

SAMPLE = 64  # stripes a light check reads


def sample(ids: list[int], full: bool) -> list[int]:
    if full or len(ids) <= SAMPLE:
        return ids
    step = len(ids) / SAMPLE
    return sorted({ids[int(i * step)] for i in range(SAMPLE)} | {ids[-1]})


def check_stripes(
    conn: sqlite3.Connection, present: Mapping[int, Path], member_count: int, nparity: int,
    *, full: bool, progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Finding], int]:
    """(findings, stripes checked)."""
    findings: list[Finding] = []
    for seg in catalog_read.segment_ids(conn):
        # Only members holding a shard of some stripe of the segment have its file: a narrow
        # stripe leaves the others without one (docs/on-disk-format.md).
        holders: set[int] = set()
        for first, width in conn.execute(
                "SELECT first_member, max(width) FROM store.stripes WHERE segment = ?"
                " GROUP BY first_member", (seg,)):
            holders |= {shard_member(int(first), j, member_count)
                        for j in range(int(width) + nparity)}
        gone = [slot for slot in sorted(holders & set(present))
                if not segment_path(present[slot], seg).exists()]
        if gone:
            findings.append(Finding("store", (
                f"segment {seg} is missing its file on member(s) "
                f"{', '.join(map(str, gone))}")))
    ids = sample(catalog_read.stripe_ids(conn), full)
    damaged: list[str] = []
    lost: list[str] = []
    for n, sid in enumerate(ids, 1):
        rec = catalog_read.stripe(conn, sid)
        chunks = catalog_read.chunks_in_stripe(conn, sid)
        shards, why = read_stripe(rec, dict(present), member_count, nparity)
        verdict = check_stripe(shards, why, rec, chunks, nparity)
        if verdict.shards is None:
            live = sum(1 for c in chunks if c.refs > 0)
            lost.append(f"stripe {sid} (segment {rec.segment}, {live} live chunk(s))")
        else:
            for j in sorted(verdict.erased):
                member = shard_member(rec.first_member, j, member_count)
                if member in present:
                    damaged.append(f"stripe {sid} shard {j} on {disk_name(member)} "
                                   f"({why.get(j, 'content did not match')})")
        if progress is not None:
            progress(n, len(ids))
    if damaged:
        findings.append(Finding("store", (
            f"{len(damaged)} damaged shard(s) that parity can rebuild ('scrub' repairs them): "
            + ", ".join(damaged[:10]) + (" ..." if len(damaged) > 10 else ""))))
    if lost:
        findings.append(Finding("store", (
            f"{len(lost)} stripe(s) beyond what parity can rebuild: "
            + ", ".join(lost[:10]) + (" ..." if len(lost) > 10 else ""))))
    return findings, len(ids)
