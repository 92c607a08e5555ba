"""Typed calls for the `snapshot.*` control methods (nasfs.snapshots.api has the table).

`SnapshotClient` wraps anything with `call(method, params)`: the daemon `Client`, or, with
no daemon running, `nasfs.snapshots.offline.OfflineSnapshots` over the array opened on its
disks. Never imports trio (the console uses it from threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from nasfs.wire.types import from_dict


class Caller(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    name: str  # '@GMT-YYYY.MM.DD-HH.MM.SS' (UTC) unless named by hand
    generation: int
    created_ns: int
    locked: bool
    exclusive_bytes: int  # freed by deleting it
    shared_bytes: int  # held together with other snapshots
    schedule: int | None = None


@dataclass(frozen=True)
class RestoreDone:
    path: str  # where it was restored, from the volume root
    ino: int
    files: int
    bytes: int


@dataclass(frozen=True)
class SnapshotDiff:
    added: list[str]
    changed: list[str]
    removed: list[str]


@dataclass(frozen=True)
class ScheduleInfo:
    id: int
    name: str
    cron: str
    last_run_ns: int | None
    keep_last: int | None = None
    keep_within_s: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None


SnapshotRef = int | str  # id or name
# SnapshotClient has a method named `list`, which hides the builtin in its class body.
Schedules = list[ScheduleInfo]


class SnapshotClient:
    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def create(self, name: str | None = None, *, locked: bool = False) -> SnapshotInfo:
        params: dict[str, Any] = {"locked": locked}
        if name is not None:
            params["name"] = name
        return from_dict(SnapshotInfo, self.caller.call("snapshot.create", params))

    def list(self, *, sizes: bool = True) -> list[SnapshotInfo]:
        return [from_dict(SnapshotInfo, s)
                for s in self.caller.call("snapshot.list", {"sizes": sizes})]

    def delete(self, snapshot: SnapshotRef) -> SnapshotInfo:
        return from_dict(SnapshotInfo, self.caller.call("snapshot.delete", {"id": snapshot}))

    def lock(self, snapshot: SnapshotRef) -> SnapshotInfo:
        return from_dict(SnapshotInfo, self.caller.call("snapshot.lock", {"id": snapshot}))

    def unlock(self, snapshot: SnapshotRef) -> SnapshotInfo:
        return from_dict(SnapshotInfo, self.caller.call("snapshot.unlock", {"id": snapshot}))

    def restore(self, snapshot: SnapshotRef, path: str, to: str | None = None) -> RestoreDone:
        params: dict[str, Any] = {"id": snapshot, "path": path}
        if to is not None:
            params["to"] = to
        return from_dict(RestoreDone, self.caller.call("snapshot.restore", params))

    def diff(self, snapshot: SnapshotRef, other: SnapshotRef | None = None) -> SnapshotDiff:
        params: dict[str, Any] = {"id": snapshot}
        if other is not None:
            params["id2"] = other
        return from_dict(SnapshotDiff, self.caller.call("snapshot.diff", params))

    def schedules(self) -> Schedules:
        return [from_dict(ScheduleInfo, s)
                for s in self.caller.call("snapshot.schedule.list", {})]

    def set_schedule(self, name: str, cron: str, **keep: int | None) -> ScheduleInfo:
        params: dict[str, Any] = {"name": name, "cron": cron}
        params.update({k: v for k, v in keep.items() if v is not None})
        return from_dict(ScheduleInfo, self.caller.call("snapshot.schedule.set", params))

    def delete_schedule(self, name: str) -> None:
        self.caller.call("snapshot.schedule.del", {"name": name})
