"""The status report of an array, as the `status` method and offline `nasfs status` give it.

One builder for both paths, so `nasfs status --json` has the same shape whether it came
through the daemon or from reading the disks directly.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from nasfs.client.types import ArrayStatus, Capacity, EventRecord, MemberStatus


def array_status(
    store: Any, *, source: str, mounted: bool = False, mountpoint: str | None = None,
    daemon_pid: int | None = None, started_at: float | None = None,
    running_job: str | None = None, events: Iterable[Any] = (),
) -> ArrayStatus:
    """Build the report from an open store (`health()` and `capacity()` are read here).

    Blocking: reads the catalog and statvfs's each member; call it in a worker thread.
    """
    health = store.health()
    cap = store.capacity()
    return ArrayStatus(
        state=health.state,
        array_uuid=health.array_uuid,
        generation=health.generation,
        nparity=health.nparity,
        members=[MemberStatus(m.index, m.path, m.state) for m in health.members],
        missing=list(health.missing),
        rebuild_in_progress=health.rebuild_in_progress,
        capacity=Capacity(**{f.name: getattr(cap, f.name)
                             for f in dataclasses.fields(Capacity) if hasattr(cap, f.name)}),
        mounted=mounted,
        mountpoint=mountpoint,
        source=source,
        daemon_pid=daemon_pid,
        uptime_s=(time.time() - started_at) if started_at is not None else None,
        running_job=running_job,
        events=[EventRecord(e.time, e.source, e.kind, e.detail) for e in events],
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
