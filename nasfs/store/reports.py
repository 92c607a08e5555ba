"""What the maintenance jobs (scrub, rebuild, compaction) report when they finish.

Plain dataclasses: the CLI prints their fields, the daemon sends them as JSON objects
(`dataclasses.asdict`, field names are the wire format; docs/control-protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScrubReport:
    stripes: int = 0
    bytes_read: int = 0
    repaired_shards: int = 0
    degraded_stripes: int = 0  # stripes with a shard on a missing member (rebuild fixes)
    unrecoverable: list[str] = field(default_factory=list)
    resumed_from: int = 0

    @property
    def clean(self) -> bool:
        return not self.unrecoverable and not self.repaired_shards


@dataclass
class RebuildReport:
    member: int
    onto: str
    stripes: int
    bytes_written: int
    unrecoverable: list[str]
    resumed_from: int


@dataclass
class CompactReport:
    segments_compacted: int = 0
    chunks_moved: int = 0
    bytes_moved: int = 0
    bytes_reclaimed: int = 0  # shard bytes (all members) of the deleted segments
    segments_skipped: int = 0  # worth compacting, but their live data did not fit now
