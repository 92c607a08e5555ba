"""Snapshots of a volume: take, list, lock, delete; space held; the capacity reserve.

A snapshot is a frozen generation S of the versioned rows (nasfs.fs.schema): taking one is
"flush, then S = G; G += 1; record S", O(1) in the size of the tree. It sees the rows with
`born <= S AND (died IS NULL OR died > S)` and never changes afterwards, because every
later change of a row born at or before S closes it and writes a copy (nasfs.fs.repository).

Point in time: sizes and times reach fs.db when write() is called, the data only when its
record is flushed. So the buffers are drained before the bump: one ordinary flush, then
new writes and truncations wait at the data path's write gate while the rest drains (those
already running finish), and the bump happens with no await after the drain found nothing
dirty, in flight or being truncated. Everything written before is in the snapshot, nothing
written after.

Deleting a snapshot at S physically deletes the rows only it saw: dead rows born after the
previous remaining snapshot P and dying no later than the next one N (born in (P, S],
died in (S, N]). Their store references are released after the durable commit, and the
store's compaction gives the space back.

Space figures count extent rows that are no longer live (snapshot-held data), row by row:
`exclusive_bytes` is what deleting that snapshot would free, `shared_bytes` what it holds
together with other snapshots. Data still in the live tree is not counted (a snapshot costs
only what changed after it). Identical content in different rows is counted per row,
though the store keeps it once.
"""

from __future__ import annotations

import bisect
import calendar
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from nasfs.clock import Clock, SystemClock
from nasfs.fs import errors
from nasfs.fs.snapshot_diff import TreeDiff, diff_folder, diff_generations
from nasfs.fs.snapshot_restore import RestoreResult
from nasfs.fs.snapshot_restore import restore as restore_tree
from nasfs.fs.snapshot_view import SnapshotView
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.fs.hosts import SnapshotHost

log = logging.getLogger(__name__)

MAX_SNAPSHOTS = 256
RESERVE_FRACTION = 0.20  # of usable capacity, kept for snapshot-held data
FULL_FRACTION = 0.05  # free space below this fraction of usable capacity counts as full
NAME_FORMAT = "@GMT-%Y.%m.%d-%H.%M.%S"  # Samba shadow_copy2's default format, UTC
HELD_CACHE_S = 2.0


class SnapshotNotFound(errors.NotFound):
    """No snapshot with this id (or name)."""

    wire_code = codes.SNAPSHOT_NOT_FOUND


class SnapshotExists(errors.AlreadyExists):
    """A snapshot with this name exists already."""

    wire_code = codes.SNAPSHOT_EXISTS


class SnapshotLocked(errors.NotPermitted):
    """The snapshot is locked against removal."""

    wire_code = codes.SNAPSHOT_LOCKED


class SnapshotLimit(errors.FsError):
    """The volume has its maximum of snapshots and every one of them is locked."""

    wire_code = codes.SNAPSHOT_LIMIT
    errno = 28  # ENOSPC


class InvalidSnapshotName(errors.InvalidArgument):
    """A snapshot name that cannot be a directory name in `#snapshot`."""

    wire_code = codes.INVALID_SNAPSHOT_NAME


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot, as `list()` reports it."""

    id: int
    name: str
    generation: int
    created_ns: int
    locked: bool
    exclusive_bytes: int
    shared_bytes: int
    policy_state: str | None  # JSON of the policy when it was taken, or None
    schedule: int | None = None  # id of the schedule that took it

    def to_json(self, *, with_policy: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "name": self.name, "generation": self.generation,
            "created_ns": self.created_ns, "locked": self.locked,
            "exclusive_bytes": self.exclusive_bytes, "shared_bytes": self.shared_bytes,
            "schedule": self.schedule,
        }
        if with_policy:
            body["policy_state"] = self.policy_state
        return body


@dataclass(slots=True)
class _Row:
    id: int
    name: str
    generation: int
    created_ns: int
    locked: bool
    schedule: int | None
    policy_state: str | None


def default_name(time_ns: int) -> str:
    """'@GMT-YYYY.MM.DD-HH.MM.SS' of a moment, in UTC."""
    return time.strftime(NAME_FORMAT, time.gmtime(time_ns // 1_000_000_000))


def parse_default_name(name: str) -> int | None:
    """Seconds since the epoch of a '@GMT-...' name, or None if it is not one."""
    try:
        return calendar.timegm(time.strptime(name, NAME_FORMAT))
    except ValueError:
        return None


def check_name(name: str) -> None:
    raw = name.encode("utf-8", "surrogateescape")
    if not raw or len(raw) > 255 or "/" in name or "\0" in name or name in (".", ".."):
        raise InvalidSnapshotName(
            f"{name!r} is not a valid snapshot name (1-255 bytes, no '/', not '.' or '..')")


RemovedCallback = Callable[[SnapshotInfo, str], None]
# Called with the whole list (oldest first, no sizes) after any snapshot came or went.
ChangedCallback = Callable[[list[SnapshotInfo]], None]
# The manager has a method named `list`, which hides the builtin inside its class body.
Rows = list[_Row]
Infos = list[SnapshotInfo]


class SnapshotManager:
    """The snapshots of one `Filesystem` (as `fs.snapshots`). Methods that change something
    are async: they commit durably before returning. One change at a time (a trio lock)."""

    def __init__(self, fs: SnapshotHost, clock: Clock | None = None) -> None:
        self.fs = fs
        self.repo = fs.repo
        self.clock: Clock = clock or SystemClock()
        self.max_snapshots = MAX_SNAPSHOTS
        self.reserve_fraction = RESERVE_FRACTION
        self.full_fraction = FULL_FRACTION
        # Called with (info, reason) after a snapshot was removed automatically ("limit" or
        # "space"), after the commit: the daemon logs it and queues the mail.
        self.on_removed: list[RemovedCallback] = []
        # Called after every snapshot that came or went (created, deleted, removed
        # automatically), after the commit: the SMB side lists them as Previous Versions.
        self.on_changed: list[ChangedCallback] = []
        self._lock = trio.Lock()
        self._rows: dict[int, _Row] = {}
        self._held: tuple[float, int] | None = None
        self.reload()

    def reload(self) -> None:
        self._rows = {
            int(r[0]): _Row(int(r[0]), str(r[1]), int(r[2]), int(r[3]), bool(r[4]),
                            None if r[5] is None else int(r[5]), r[6])
            for r in self.repo.snapshot_rows()
        }
        self._held = None

    # ------------------------------------------------------------------ reading

    def exists(self, snapshot_id: int) -> bool:
        return snapshot_id in self._rows

    def _row(self, snapshot_id: int) -> _Row:
        row = self._rows.get(snapshot_id)
        if row is None:
            raise SnapshotNotFound(f"snapshot {snapshot_id} does not exist")
        return row

    def find(self, key: int | str) -> int:
        """The id of a snapshot given by id or by name."""
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            return self._row(int(key)).id
        for row in self._rows.values():
            if row.name == key:
                return row.id
        raise SnapshotNotFound(f"no snapshot is named {key!r}")

    def _ordered(self) -> list[_Row]:
        return sorted(self._rows.values(), key=lambda r: r.generation)

    def list(self, *, sizes: bool = True) -> list[SnapshotInfo]:
        """Every snapshot, oldest first. `sizes=False` skips the space figures (zeros), which
        read the dead rows of fs.db: cheap enough for the CLI, not for every readdir."""
        rows = self._ordered()
        exclusive, shared = self._space(rows) if sizes else ({}, {})
        return [self._info(r, exclusive.get(r.id, 0), shared.get(r.id, 0)) for r in rows]

    def get(self, snapshot_id: int) -> SnapshotInfo:
        return self._info(self._row(snapshot_id), 0, 0)

    @staticmethod
    def _info(r: _Row, exclusive: int, shared: int) -> SnapshotInfo:
        return SnapshotInfo(r.id, r.name, r.generation, r.created_ns, r.locked, exclusive,
                            shared, r.policy_state, r.schedule)

    def view(self, snapshot_id: int) -> SnapshotView:
        """A read-only view of the tree at the snapshot; SnapshotNotFound (ENOENT)."""
        row = self._row(snapshot_id)
        return SnapshotView(self.repo, self.fs.data, self.exists, row.id, row.generation)

    # -------------------------------------------------------------------- space

    def _space(self, rows: Rows) -> tuple[dict[int, int], dict[int, int]]:
        gens = [r.generation for r in rows]
        exclusive = [0] * len(rows)
        step = [0] * (len(rows) + 1)
        held = 0
        for born, died, nbytes in self.repo.dead_extent_bytes():
            # The snapshots seeing these rows are those with born <= S < died.
            i, j = bisect.bisect_left(gens, born), bisect.bisect_left(gens, died)
            if j <= i:
                continue  # seen by none: deleted by the next purge (never normally here)
            held += nbytes
            if j - i == 1:
                exclusive[i] += nbytes
            else:
                step[i] += nbytes
                step[j] -= nbytes
        shared: dict[int, int] = {}
        running = 0
        for k, r in enumerate(rows):
            running += step[k]
            shared[r.id] = running
        self._held = (time.monotonic(), held)
        return {r.id: exclusive[k] for k, r in enumerate(rows)}, shared

    def held_bytes(self, *, fresh: bool = False) -> int:
        """Bytes of extent rows only snapshots still name (cached a moment for statfs)."""
        cached = self._held
        if fresh or cached is None or time.monotonic() - cached[0] > HELD_CACHE_S:
            self._space(self._ordered())
            cached = self._held
        assert cached is not None
        return cached[1]

    def reserve_bytes(self, usable_bytes: int) -> int:
        return int(usable_bytes * self.reserve_fraction)

    def live_capacity(self, usable_bytes: int, free_bytes: int) -> tuple[int, int]:
        """(total, available) bytes for statfs: the reserve is not part of the live size,
        and the part of it snapshots do not use yet is not available to live data."""
        reserve = self.reserve_bytes(usable_bytes)
        unused_reserve = max(0, reserve - self.held_bytes())
        return usable_bytes - reserve, max(0, free_bytes - unused_reserve)

    # ------------------------------------------------------------------- taking

    async def create(self, name: str | None = None, policy_state: str | None = None, *,
                     schedule: int | None = None) -> SnapshotInfo:
        """Take a snapshot of the whole volume now (see module docstring).

        `name` defaults to '@GMT-...' of the moment (UTC; if taken, the next free second).
        Over the limit, the oldest unlocked snapshot is removed. Raises SnapshotExists,
        InvalidSnapshotName, SnapshotLimit (all locked), and store errors from the flush.
        """
        self.fs.failsafe.check_writable()
        async with self._lock:
            if name is not None:
                check_name(name)
                if any(r.name == name for r in self._rows.values()):
                    raise SnapshotExists(f"a snapshot named {name!r} exists already")
            if len(self._rows) >= self.max_snapshots and all(
                    r.locked for r in self._rows.values()):
                raise SnapshotLimit(
                    f"all {len(self._rows)} snapshots are locked; unlock or delete one first")
            taken: Rows = []

            def take() -> None:
                now_ns = self.clock.now_ns()
                chosen = name if name is not None else self._free_default_name(now_ns)
                generation = self.repo.new_generation()
                sid = self.repo.insert_snapshot(chosen, generation, now_ns, schedule,
                                                policy_state)
                row = _Row(sid, chosen, generation, now_ns, False, schedule, policy_state)
                self._rows[sid] = row
                taken.append(row)

            await self._at_quiet_moment(take)
            removed = []
            while len(self._rows) > self.max_snapshots:
                victim = next(r for r in self._ordered() if not r.locked)
                removed.append(self._delete_now(victim))
            await self.fs.commit()
        info = self._info(taken[0], 0, 0)
        log.info("snapshot %d %s taken at generation %d", info.id, info.name, info.generation)
        for old in removed:
            self._notify(old, "limit")
        self._changed()
        return info

    def _free_default_name(self, now_ns: int) -> str:
        names = {r.name for r in self._rows.values()}
        second = now_ns // 1_000_000_000
        while default_name(second * 1_000_000_000) in names:
            second += 1
        return default_name(second * 1_000_000_000)

    async def _at_quiet_moment(self, action: Callable[[], None]) -> None:
        """Drain every buffer and run `action` with nothing dirty, in flight or truncating,
        before any write can dirty a record again (one free round: the bulk flushes while
        writers still run; then writes wait at the gate until the rest is drained)."""
        await self.fs.data.at_quiet_moment(action, free_rounds=1)

    # ----------------------------------------------------------------- changing

    async def delete(self, snapshot_id: int) -> SnapshotInfo:
        """Delete a snapshot; its exclusive rows go at once, their chunks after the commit.
        Raises SnapshotNotFound, SnapshotLocked."""
        self.fs.failsafe.check_writable()
        async with self._lock:
            row = self._row(snapshot_id)
            if row.locked:
                raise SnapshotLocked(f"snapshot {row.id} ({row.name}) is locked; unlock it first")
            info = self._delete_now(row)
            await self.fs.commit()
        log.info("snapshot %d %s deleted", info.id, info.name)
        self._changed()
        return info

    def _delete_now(self, row: _Row) -> SnapshotInfo:
        """Remove the row and the versions only it saw (synchronous, not committed)."""
        others = sorted(r.generation for r in self._rows.values() if r.id != row.id)
        i = bisect.bisect_left(others, row.generation)
        prev = others[i - 1] if i > 0 else 0
        nxt = others[i] if i < len(others) else None
        self.repo.delete_snapshot_row(row.id)
        chunks = self.repo.purge_unseen(prev, row.generation, nxt)
        self.fs.data.release_after_commit += chunks
        del self._rows[row.id]
        self._held = None
        return self._info(row, 0, 0)

    async def set_locked(self, snapshot_id: int, locked: bool) -> SnapshotInfo:
        self.fs.failsafe.check_writable()
        async with self._lock:
            row = self._row(snapshot_id)
            self.repo.set_snapshot_locked(row.id, locked)
            row.locked = locked
            await self.fs.commit()
        return self.get(snapshot_id)

    def _notify(self, info: SnapshotInfo, reason: str) -> None:
        log.warning("snapshot %d %s removed automatically (%s)", info.id, info.name, reason)
        for callback in self.on_removed:
            try:
                callback(info, reason)
            except Exception:
                log.exception("snapshot-removed callback failed")

    def _changed(self) -> None:
        snapshots = self.list(sizes=False)
        for callback in self.on_changed:
            try:
                callback(snapshots)
            except Exception:
                log.exception("snapshot-changed callback failed")

    # ------------------------------------------------------- restore and diff

    async def restore(self, snapshot_id: int, path: bytes,
                      to: bytes | None = None) -> RestoreResult:
        """Restore a file or folder of a snapshot (nasfs.fs.snapshot_restore)."""
        self.fs.failsafe.check_writable()
        async with self._lock:  # the snapshot cannot be deleted halfway
            view = self.view(snapshot_id)
            return await restore_tree(self.fs, view, self._row(snapshot_id).name, path, to)

    async def diff(self, snapshot_id: int, other_id: int | None = None) -> TreeDiff:
        """What changed from a snapshot to another (given in either order) or to now."""
        first = self._row(snapshot_id).generation
        if other_id is None:
            # Buffered writes are part of "now".
            await self.fs.data.flush(self.fs.data.dirty_inodes())
            second = self.repo.generation
        else:
            second = self._row(other_id).generation
        return diff_generations(self.repo, min(first, second), max(first, second))

    def diff_folder(self, older_id: int, newer_id: int, path: bytes) -> TreeDiff | None:
        """What changed inside the folder `path` (from the volume root) from snapshot
        `older_id` to `newer_id`, paths relative to it; None when it is not a folder in both
        (nasfs.fs.snapshot_diff.diff_folder). Reads only: both are frozen generations."""
        return diff_folder(self.repo, self._row(older_id).generation,
                           self._row(newer_id).generation, path)

    # ------------------------------------------------------------ the reserve

    async def reclaim_space(self) -> Infos:
        """When snapshot-held data has outgrown the reserve and the volume is full, remove
        the oldest unlocked snapshots (never live data) until it is not, compacting the
        store after each. Returns what was removed."""
        store: Any = self.fs.store
        removed: Infos = []
        while True:
            cap = await trio.to_thread.run_sync(store.capacity)
            usable, free = int(cap.usable_bytes), int(cap.free_bytes)
            if free >= usable * self.full_fraction:
                break
            if self.held_bytes(fresh=True) <= self.reserve_bytes(usable):
                break
            async with self._lock:
                victim = next((r for r in self._ordered() if not r.locked), None)
                if victim is None:
                    log.warning("volume full and only locked snapshots hold data")
                    break
                info = self._delete_now(victim)
                await self.fs.commit()
            removed.append(info)
            self._notify(info, "space")
            self._changed()
            # The segment being appended to is never compacted: start a new one first.
            store.seal_segment()
            await trio.to_thread.run_sync(store.compact, 0.0)
        return removed
