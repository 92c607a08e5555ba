"""Typed results of control calls, built from the JSON the daemon sends.

Parsing ignores fields it does not know, so an older client keeps working against a newer
daemon that reports more. The daemon side builds the same shapes (nasfs.daemon.status).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass `cls` from `data`, ignoring unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class MemberStatus:
    index: int
    path: str | None
    state: str  # "ok" | "missing"
    # Counted by the daemon since it started (None when read offline): read errors,
    # checksum mismatches rewritten from parity, failed writes.
    read_errors: int | None = None
    repaired: int | None = None
    write_errors: int | None = None


@dataclass(frozen=True)
class Capacity:
    """Bytes. usable = raw after parity; free = data bytes files can still take (outside
    the reserve, buffered data counted); docs/space.md."""

    raw_bytes: int
    usable_bytes: int
    used_bytes: int
    stored_bytes: int
    dead_bytes: int
    free_bytes: int
    chunks: int = 0
    live_chunks: int = 0
    segments: int = 0
    reserve_bytes: int = 0  # of usable: only metadata, logs, deletions, compaction use it
    reserve_free_bytes: int = 0
    buffered_bytes: int = 0  # written, charged, not yet in the store
    reclaimable_bytes: int = 0  # dead bytes compaction can give back now
    # Known to a daemon with the filesystem mounted (None otherwise): the part of usable
    # space kept for snapshots, the bytes only snapshots still hold, the bytes of all
    # shares' trash (both inside used_bytes).
    snapshot_reserve_bytes: int | None = None
    snapshot_held_bytes: int | None = None
    trash_bytes: int | None = None


@dataclass(frozen=True)
class EventRecord:
    time: float
    source: str
    kind: str
    detail: str


@dataclass(frozen=True)
class ArrayStatus:
    """What `nasfs status` shows: health, capacity, mount state, daemon."""

    state: str  # "healthy" | "degraded" | "failed"
    array_uuid: str
    generation: int
    nparity: int
    members: list[MemberStatus]
    missing: list[int]
    rebuild_in_progress: int | None
    capacity: Capacity
    mounted: bool
    mountpoint: str | None
    source: str  # "daemon" (live) | "offline" (read from the disks, no daemon running)
    daemon_pid: int | None = None
    uptime_s: float | None = None
    running_job: str | None = None
    events: list[EventRecord] = field(default_factory=list)
    # Set while the mount is in its read-only fail-safe state (docs/space.md): why.
    read_only: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArrayStatus:
        body = dict(data)
        body["members"] = [from_dict(MemberStatus, m) for m in data.get("members", [])]
        body["capacity"] = from_dict(Capacity, data["capacity"])
        body["events"] = [from_dict(EventRecord, e) for e in data.get("events", [])]
        return from_dict(cls, body)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class JobProgress:
    """Progress of a long job (scrub, rebuild) as streamed by the daemon."""

    done_bytes: int
    total_bytes: int
    rate_bytes_per_s: float
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0


@dataclass(frozen=True)
class JobResult:
    """The outcome of a scrub or rebuild: the store's report, as JSON fields."""

    method: str
    report: dict[str, Any]


@dataclass(frozen=True)
class UnlockReport:
    """What `user.unlock` did; `sentence()` says it the same way in the CLI, the console and
    the recovery shell."""

    name: str | None
    source: str | None
    was_locked: bool
    sources_unlocked: list[str] = field(default_factory=list)
    sources_still_locked: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        what = self.name if self.name is not None else f"logins from {self.source}"
        were = "was" if self.name is not None else "were"
        parts = [f"unlocked {what}" if self.was_locked else f"{what} {were} not locked"]
        if self.sources_unlocked:
            parts.append(f"also unlocked logins from {', '.join(self.sources_unlocked)} "
                         f"(locked only by {self.name}'s failed logins)")
        for source in self.sources_still_locked:
            parts.append(f"logins from {source} stay locked (other names failed there too): "
                         f"'nasfs user unlock --source {source}' lifts that")
        return "; ".join(parts)
