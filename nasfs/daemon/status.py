"""The status report of an array, as the `status` method and offline `nasfs status` give it.

One builder for both paths, so `nasfs status --json` has the same shape whether it came
through the daemon or from reading the disks directly.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from nasfs.wire.types import ArrayStatus, Capacity, EventRecord, MemberStatus

COUNTERS = ("read_errors", "repaired", "write_errors")


class MemberErrors:
    """Per-member error counts since the daemon started, from the store's events.

    `read-error` counts a read error, `repaired` a checksum mismatch rewritten from parity,
    `member-failed` whose detail says "write failed" a write error. Thread-safe (the
    store reports from worker threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, collections.Counter[str]] = {}

    def count(self, kind: str, member: int | None, detail: str) -> None:
        if member is None:
            return
        if kind == "read-error":
            name = "read_errors"
        elif kind == "repaired":
            name = "repaired"
        elif kind == "member-failed" and detail.startswith("write failed"):
            name = "write_errors"
        else:
            return
        with self._lock:
            self._counts.setdefault(member, collections.Counter())[name] += 1

    def snapshot(self) -> dict[int, dict[str, int]]:
        with self._lock:
            return {m: {name: c[name] for name in COUNTERS} for m, c in self._counts.items()}


def array_status(
    store: Any, *, source: str, mounted: bool = False, mountpoint: str | None = None,
    daemon_pid: int | None = None, started_at: float | None = None,
    running_job: str | None = None, events: Iterable[Any] = (),
    member_errors: Mapping[int, Mapping[str, int]] | None = None,
    capacity_extra: Mapping[str, int | None] | None = None,
    read_only: str | None = None,
) -> ArrayStatus:
    """Build the report from an open store (`health()` and `capacity()` are read here).

    `member_errors` (the daemon's counts; None offline, where nothing was counted) and
    `capacity_extra` (snapshot and trash figures the filesystem knows) are added as given.
    `read_only`: why the mount is in its read-only fail-safe state, if it is.
    Blocking: reads the catalog and statvfs's each member; call it in a worker thread.
    """
    health = store.health()
    cap = store.capacity()
    counts = member_errors

    def member(m: Any) -> MemberStatus:
        if counts is None:
            return MemberStatus(m.index, m.path, m.state)
        mine = counts.get(m.index, {})
        return MemberStatus(m.index, m.path, m.state,
                            **{name: int(mine.get(name, 0)) for name in COUNTERS})

    capacity = Capacity(**{f.name: getattr(cap, f.name)
                           for f in dataclasses.fields(Capacity) if hasattr(cap, f.name)})
    if capacity_extra:
        capacity = dataclasses.replace(capacity, **capacity_extra)  # type: ignore[arg-type]
    return ArrayStatus(
        state=health.state,
        array_uuid=health.array_uuid,
        generation=health.generation,
        nparity=health.nparity,
        members=[member(m) for m in health.members],
        missing=list(health.missing),
        rebuild_in_progress=health.rebuild_in_progress,
        capacity=capacity,
        mounted=mounted,
        mountpoint=mountpoint,
        source=source,
        daemon_pid=daemon_pid,
        uptime_s=(time.time() - started_at) if started_at is not None else None,
        running_job=running_job,
        events=[EventRecord(e.time, e.source, e.kind, e.detail) for e in events],
        read_only=read_only,
    )


def to_jsonable(value: Any) -> Any:
    """A store report (dataclasses, paths, bytes) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
