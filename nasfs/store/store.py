"""The Store: a content-addressed, parity-striped chunk store over member directories.

Threading: every public method is synchronous and may be called from any thread. The
catalog (one ReplicatedDB connection set) and the in-memory allocation state are guarded by
`_lock`; stripe building, parity, disk writes, fsyncs and reads run without it, so several
puts and gets proceed at once. A chunk being written by one put is marked pending so that
a concurrent put of the same content waits for it instead of storing it twice.

Why this file is over 500 lines: put, get and the references share the lock, the pending
and in-flight sets and the segment allocation, so they stay together; everything else is
split out by job (nasfs.store.mkfs, .membership, .upkeep, .scrub, .rebuild, .compact).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from nasfs.db import DBEvent, ReplicatedDB
from nasfs.store import capacity as capacity_mod
from nasfs.store import heal
from nasfs.store.assembly import Assembly, assemble
from nasfs.store.catalog import Catalog, ChunkRecord, ChunkVanished, PutRows, StripeRecord
from nasfs.store.currency import check_current
from nasfs.store.disks import disk_name, disk_names
from nasfs.store.errors import (
    ChunkLostError,
    ChunkNotFoundError,
    StoreClosedError,
    StoreFullError,
    StoreIOError,
)
from nasfs.store.events import EventSink, ProgressCallback, StoreEvent
from nasfs.store.geometry import pack, shape_for
from nasfs.store.label import ArrayLabel
from nasfs.store.member import MemberRoot
from nasfs.store.membership import Membership
from nasfs.store.mkfs import make_array
from nasfs.store.put_commit import PutCommitter
from nasfs.store.reader import ReadOutcome, chunk_hash, read_direct, read_reconstructing
from nasfs.store.reports import CompactReport, RebuildReport, ScrubReport
from nasfs.store.segments import delete_segment, list_segment_files
from nasfs.store.space import SpaceAccount
from nasfs.store.upkeep import Upkeep
from nasfs.store.writer import MemberWriters, PlannedStripe, is_no_space, write_stripes

log = logging.getLogger(__name__)

ChunkId = bytes
Buffer = bytes | bytearray | memoryview
T = TypeVar("T")
class Store:
    """An assembled array. Use `Store.create` once, then `Store.open`; `close()` at the end."""

    def __init__(self, assembly: Assembly, events: EventSink | None):
        self._events = events
        self._lock = threading.RLock()
        self._closed = False
        self.members = Membership(assembly, self._lock, self.emit, lambda: self._closed)
        self.member_count = assembly.label.member_count
        self.nparity = assembly.label.nparity
        self.k = self.member_count - self.nparity
        self.present = self.members.present  # the live dict (failing members drop out)
        self._roots = self.members.roots
        self.spare_dirs = list(assembly.empty_dirs)
        self._pending: dict[bytes, threading.Event] = {}
        # Stripe ids reserved by writes that have not committed or given up yet: a rebuild
        # waits for those older than its switch-over point before it finishes.
        self._inflight: set[int] = set()
        self._inflight_cv = threading.Condition(self._lock)
        self._writers = MemberWriters(self.member_count)
        self._hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nasfs-hash")
        self.catalog = self._open_catalog()
        self._committer = PutCommitter(self._lock, lambda: self.catalog, self._check_open,
                                       self.nparity)
        self._next_stripe = self.catalog.next_stripe_id()
        # A new segment on every open: whatever a crash left at the old tail is dead space.
        self._segment: int | None = None
        self._segment_end = 0
        self.maintenance_lock = threading.Lock()  # one scrub/rebuild/compaction at a time
        # Buffered data is charged here before it is acknowledged (nasfs.store.space).
        self.space = SpaceAccount(self.present, self.member_count, self.nparity)
        self.space.start()  # its watcher thread measures the members (never the caller)
        # What scrub, rebuild, compaction, healing and status may use (nasfs.store.upkeep).
        self.upkeep = Upkeep(self)

    # ------------------------------------------------------------- lifecycle

    # mkfs (nasfs.store.mkfs): `Store.create(members, nparity)` once, then `Store.open`.
    create = staticmethod(make_array)

    @classmethod
    def open(cls, members: Sequence[Path], *, events: EventSink | None = None) -> Store:
        """Assemble the array from its member directories (any order; degraded is fine).

        Raises AssemblyError naming the directory that is wrong.
        """
        assembly = assemble([Path(m) for m in members])
        # Before anything opens (and would repair) a database copy on a member behind.
        check_current(assembly)
        store = cls(assembly, events)
        try:
            store._after_open(assembly)
        except BaseException:
            store.close()
            raise
        return store

    def _open_catalog(self) -> Catalog:
        def relay(event: DBEvent) -> None:
            if event.kind == "failed":
                self.members.suspect(event.path)
            self.emit(StoreEvent(f"db-{event.kind}", path=str(event.path), detail=event.detail))

        return Catalog.open(
            [self.present[i] for i in sorted(self.present)],
            self.nparity,
            self.label.array_uuid,
            relay,
            copy_ok=self.copy_ok,
        )

    def _after_open(self, assembly: Assembly) -> None:
        missing = set(assembly.missing)
        for i in sorted(missing):
            self.emit(StoreEvent("member-missing", member=i, detail=f"{disk_name(i)} is missing"))
        if not missing <= set(self.label.failed):
            self.members.bump_generation(failed=set(self.label.failed) | missing)
        self._remove_orphans()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._writers.close()
        self._hash_pool.shutdown(wait=True)
        self.space.stop()
        with self._lock:
            self.catalog.close()
            self.close_roots()

    def reopen_catalog(self) -> None:
        """Close and reopen the catalog (lock held): the replicated database then puts a
        copy on every present member, a rebuilt one included."""
        with self._lock:
            self.catalog.close()
            self.catalog = self._open_catalog()

    def close_roots(self) -> None:
        self.members.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- events

    def emit(self, event: StoreEvent) -> None:
        quiet = event.kind.endswith("done") or event.kind in (
            "db-created", "generation-bumped", "compacted", "orphan-removed")
        level = logging.INFO if quiet else logging.WARNING
        disk = disk_name(event.member) if event.member is not None else "-"
        log.log(level, "%s %s segment=%s %s", event.kind, disk, event.segment, event.detail)
        if self._events is not None:
            try:
                self._events(event)
            except Exception:
                log.exception("event sink failed on %s", event)

    # ------------------------------------------------------------ membership
    # (nasfs.store.membership; the label lives there, `present` and `_roots` are its dicts)

    @property
    def label(self) -> ArrayLabel:
        return self.members.label

    @label.setter
    def label(self, new: ArrayLabel) -> None:
        self.members.label = new

    @property
    def missing(self) -> list[int]:
        return self.members.missing

    def admit(self, index: int, root: MemberRoot) -> None:
        """Start writing to a rebuild target (its label comes last, at the switch-over)."""
        self.members.admit(index, root)

    def withdraw(self, index: int, path: Path) -> None:
        """Undo `admit` after a rebuild that did not finish (no generation change)."""
        self.members.withdraw(index, path)

    def root(self, index: int) -> MemberRoot:
        """The pinned member of a present slot (KeyError when it is not present)."""
        return self.members.root(index)

    def fail_member(self, index: int, why: str) -> None:
        """Stop using a member that failed while running (it will need a rebuild)."""
        self.members.fail_member(index, why)

    def verify_members(self) -> list[int]:
        """Re-probe every present member; fail those that vanished or were replaced."""
        return self.members.verify_members()

    def suspect_copy(self, path: Path | str) -> None:
        """A metadata copy at `path` (of any database kept on the members) failed: the
        next `verify_members` probes its member with real I/O (nasfs.store.membership)."""
        self.members.suspect(path)

    def copy_ok(self, path: Path) -> bool:
        """May a metadata database copy at `path` be written (or created)?"""
        return self.members.copy_ok(path)

    def _remove_orphans(self) -> None:
        """Delete segment files the catalog does not know (crashed compaction, crashed mkfs)."""
        known = self.catalog.segment_ids()
        for i, path in self.present.items():
            for seg, file in list_segment_files(path).items():
                if seg not in known:
                    delete_segment(path, seg)
                    self.emit(StoreEvent("orphan-removed", member=i, path=str(file), segment=seg))

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")

    # ----------------------------------------------------------------- write

    @staticmethod
    def ids_of(chunks: Sequence[Buffer]) -> list[ChunkId]:
        """The ids chunks get (BLAKE3-256), without storing anything."""
        return [chunk_hash(memoryview(c).cast("B")) for c in chunks]

    def _hash_all(self, views: Sequence[memoryview]) -> list[bytes]:
        total = sum(len(v) for v in views)
        if total >= (4 << 20) and len(views) > 1:
            return list(self._hash_pool.map(chunk_hash, views))
        return [chunk_hash(v) for v in views]

    def _claim(self, ids: Sequence[bytes]) -> tuple[dict[bytes, int], list[bytes], threading.Event]:
        """Split ids into existing (with counts) and new ones claimed by this put.

        Waits while another in-flight put is writing one of them; claims nothing while
        waiting so two puts can never wait for each other.
        """
        counts = Counter(ids)
        while True:
            with self._lock:
                self._check_open()
                refs = self.catalog.refs_of(counts)
                busy = [self._pending[c] for c in counts if c not in refs and c in self._pending]
                if not busy:
                    mine = threading.Event()
                    new = [c for c in counts if c not in refs]
                    for c in new:
                        self._pending[c] = mine
                    return {c: counts[c] for c in refs}, new, mine
            busy[0].wait()

    def _plan(self, new: Sequence[tuple[bytes, memoryview]]) -> tuple[list[PlannedStripe],
                                                                       list[ChunkRecord]]:
        """Reserve stripe ids and segment space for new chunks (caller holds the lock)."""
        stripes: list[PlannedStripe] = []
        records: list[ChunkRecord] = []
        for group in pack([len(v) for _, v in new], self.k, self.label.max_shard_bytes):
            data_len = sum(len(new[i][1]) for i in group)
            shape = shape_for(data_len, self.k)
            if self._segment is None or self._segment_end + shape.shard_size > (
                self.label.segment_bytes
            ):
                self._segment = self.catalog.new_segment()
                self._segment_end = 0
            sid = self._next_stripe
            self._next_stripe += 1
            self._inflight.add(sid)
            rec = StripeRecord(
                sid, self._segment, self._segment_end, shape.shard_size, shape.width,
                sid % self.member_count, data_len,
            )
            self._segment_end += shape.shard_size
            placed = []
            offset = 0
            for i in group:
                cid, view = new[i]
                placed.append((view, offset))
                records.append(ChunkRecord(cid, sid, offset, len(view), 0))
                offset += len(view)
            stripes.append(PlannedStripe(rec, placed))
        return stripes, records

    def put(self, chunks: Sequence[Buffer]) -> list[ChunkId]:
        """Store chunks; returns their ids. Durable on return: stripes fsynced, refs +1 each.

        Raises StoreFullError (ENOSPC) if a member is full, StoreIOError if more members
        fail than parity covers; in both cases nothing of this batch is referenced.
        """
        while True:
            try:
                return self._put_once(chunks)
            except ChunkVanished:
                log.info("a deduplicated chunk was compacted away during put; retrying")

    def _put_once(self, chunks: Sequence[Buffer]) -> list[ChunkId]:
        self._check_open()
        views = [memoryview(c).cast("B") for c in chunks]
        ids = self._hash_all(views)
        if not ids:
            return []
        counts = Counter(ids)
        existing, new_ids, mine = self._claim(ids)
        stripes: list[PlannedStripe] = []
        try:
            first_view: dict[bytes, memoryview] = {}
            for cid, v in zip(ids, views, strict=True):
                first_view.setdefault(cid, v)
            new_set = set(new_ids)
            records: list[ChunkRecord] = []
            if new_ids:
                with self._lock:
                    stripes, records = self._plan([(c, first_view[c]) for c in new_ids])
                self._write(stripes)
            records = [
                ChunkRecord(r.id, r.stripe, r.offset, r.length, counts[r.id]) for r in records
            ]
            # Shared with the puts that finish at the same time (nasfs.store.put_commit).
            self._committer.commit(PutRows(
                [s.record for s in stripes], records,
                {c: n for c, n in existing.items() if c not in new_set},
            ))
        finally:
            with self._lock:
                self.finish_stripes([s.record.id for s in stripes])
                for c in new_ids:
                    if self._pending.get(c) is mine:
                        del self._pending[c]
            mine.set()
        return ids

    def _write(self, stripes: list[PlannedStripe]) -> None:
        self.verify_members()
        with self._lock:
            roots = dict(self._roots)
            if len(self.missing) > self.nparity:
                raise StoreIOError(
                    f"too many members are missing ({disk_names(self.missing)})"
                    "; nothing of this write was stored")
        present = {i: r.path for i, r in roots.items()}
        try:
            errors = write_stripes(stripes, roots, self.member_count, self.nparity,
                                   self._writers)
        finally:
            # Members' free space moved: counted as used until the watcher measures.
            self.space.changed(sum(s.record.shard_size * (s.record.width + self.nparity)
                                   for s in stripes))
        if not errors:
            return
        # Never write into a file whose write or fsync failed again: its fsync errors are
        # sticky (nasfs.store.member_sync), so every later put there would fail too.
        self.seal_segment()
        for member, exc in errors.items():
            if is_no_space(exc):
                raise StoreFullError(
                    f"{disk_name(member)} ({present[member]}) is full: {exc.strerror}; "
                    "nothing of this write was stored"
                ) from exc
        for member, exc in errors.items():
            self.fail_member(member, f"write failed: {exc.strerror or exc}")
        if len(self.missing) > self.nparity:
            raise StoreIOError(
                "too many members failed while writing ("
                + ", ".join(f"{present[m]}: {e.strerror or e}" for m, e in errors.items())
                + "); nothing of this write was stored"
            )

    # ------------------------------------------------------------------ read

    def _locate(self, chunk_id: bytes) -> tuple[ChunkRecord, StripeRecord]:
        with self._lock:
            self._check_open()
            found = self.catalog.lookup(chunk_id)
        if found is None:
            raise ChunkNotFoundError(f"chunk {chunk_id.hex()} is not in the store")
        return found

    def get(self, chunk_id: ChunkId) -> bytes:
        """The chunk's bytes, BLAKE3-checked; reconstructs from parity and heals if needed.

        Raises ChunkNotFoundError for an unknown id, ChunkLostError if more shards are
        damaged than parity covers; both are reported as events first (nasfs.store.heal).
        """
        try:
            chunk, stripe = self._locate(chunk_id)
        except ChunkNotFoundError:
            heal.report_unknown(self.upkeep, chunk_id)
            raise
        outcome: ReadOutcome | None = None
        for _attempt in range(3):
            present = dict(self.present)
            data = read_direct(chunk, stripe, present, self.member_count)
            if data is not None:
                return data
            outcome = read_reconstructing(
                chunk, stripe, present, self.member_count, self.nparity
            )
            if outcome.data is not None:
                if outcome.repairs or outcome.suspect:
                    self.verify_members()  # never heal onto a member that is gone
                heal.report_and_heal(self.upkeep, chunk, stripe, outcome)
                return outcome.data
            # A member that vanished or was replaced reads as damage: fail it now, so the
            # next attempt reads the others and nothing is ever healed onto it.
            self.verify_members()
            # Compaction may have moved the chunk (and deleted its old segment) meanwhile.
            moved = self._locate(chunk_id)
            if moved == (chunk, stripe):
                break
            chunk, stripe = moved
        heal.report_lost(self.upkeep, chunk, stripe, outcome)
        raise ChunkLostError(
            f"chunk {chunk_id.hex()} in stripe {stripe.id} (segment {stripe.segment}) is lost: "
            f"more shards are missing or damaged than parity {self.nparity} can rebuild"
        )

    # ------------------------------------------------------------ references

    def release(self, chunk_ids: Iterable[ChunkId]) -> None:
        """Drop one reference per id given (durable on return); unreferenced = dead space."""
        counts = Counter(chunk_ids)
        with self._lock:
            self._check_open()
            self.catalog.add_refs({c: -n for c, n in counts.items()})

    def retain(self, chunk_ids: Iterable[ChunkId]) -> None:
        """Add one reference per id given, writing no data (durable on return).

        For copies of metadata that name chunks already stored (snapshot restore). Only
        chunks that still have references may be retained: a dead chunk may be compacted
        away at any moment. Raises ChunkNotFoundError naming the first such chunk.
        """
        counts = Counter(chunk_ids)
        with self._lock:
            self._check_open()
            refs = self.catalog.refs_of(counts)
            for cid in counts:
                if refs.get(cid, 0) <= 0:
                    raise ChunkNotFoundError(f"chunk {cid.hex()} has no references to add to")
            self.catalog.add_refs(counts)

    def reconcile(self, refcounts: Mapping[ChunkId, int]) -> None:
        """Set every refcount to exactly the given value; chunks not named get 0."""
        with self._lock:
            self._check_open()
            self.catalog.reconcile(refcounts)

    def refcount(self, chunk_id: ChunkId) -> int:
        with self._lock:
            return self.catalog.refs_of([chunk_id]).get(chunk_id, 0)

    def contains(self, chunk_id: ChunkId) -> bool:
        return self.refcount(chunk_id) > 0

    # ------------------------------------------------------- status and upkeep

    def health(self) -> capacity_mod.Health:
        self.verify_members()
        return capacity_mod.health(self.upkeep)

    def capacity(self) -> capacity_mod.Capacity:
        return capacity_mod.capacity(self.upkeep)

    def refcounts(self) -> dict[ChunkId, int]:
        """Every chunk's reference count (recovery compares them with the filesystem's)."""
        with self._lock:
            self._check_open()
            return self.catalog.all_refs()

    def catalog_database(self) -> tuple[ReplicatedDB, Callable[[Callable[[], T]], T]]:
        """The catalog's replicated database, for the metadata scrub, with the way to run
        a repair of it in its owner's context (under the store's lock)."""
        def as_owner(fn: Callable[[], T]) -> T:
            with self._lock:
                return fn()

        return self.catalog.db, as_owner

    def scrub(self, *, resume: bool = False, progress: ProgressCallback | None = None,
              repair: bool = True) -> ScrubReport:
        """Check every stripe and repair what parity can (nasfs.store.scrub)."""
        from nasfs.store.scrub import scrub

        return scrub(self.upkeep, resume=resume, progress=progress, repair=repair)

    def rebuild(self, member_index: int, onto: Path, *,
                progress: ProgressCallback | None = None) -> RebuildReport:
        """Recreate a missing member on an empty directory (nasfs.store.rebuild)."""
        from nasfs.store.rebuild import rebuild

        return rebuild(self.upkeep, member_index, Path(onto), progress=progress)

    def check_rebuild(self, member_index: int, onto: Path) -> None:
        """Raise RebuildArgumentError if `rebuild(member_index, onto)` is asked wrongly."""
        self.upkeep.check_rebuild_target(member_index, Path(onto))

    def compact(self, min_dead_fraction: float = 0.5, *,
                progress: ProgressCallback | None = None,
                pace: Callable[[float], None] | None = None) -> CompactReport:
        """Give back dead space (nasfs.store.compact); safe while the array is in use."""
        from nasfs.store.compact import compact

        return compact(self.upkeep, min_dead_fraction, progress=progress, pace=pace)

    # ------------------------------------------------------- for maintenance

    def write_stripes_for(self, chunks: Sequence[tuple[bytes, bytes]]
                          ) -> tuple[list[StripeRecord], list[ChunkRecord]]:
        """Write already-verified chunks into fresh stripes (compaction); no catalog change."""
        with self._lock:
            self._check_open()
            stripes, records = self._plan([(c, memoryview(d)) for c, d in chunks])
        self._write(stripes)
        return [s.record for s in stripes], records

    def finish_stripes(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._inflight.difference_update(ids)
            self._inflight_cv.notify_all()

    def wait_stripes_settled(self, below: int) -> None:
        """Wait until no write holds a reserved stripe id lower than `below`."""
        with self._lock:
            while any(i < below for i in self._inflight):
                self._inflight_cv.wait()

    def seal_segment(self) -> None:
        """Start the next write in a new segment (the current one becomes compactable)."""
        with self._lock:
            self._segment = None

    @property
    def current_segment(self) -> int | None:
        return self._segment

    @property
    def next_stripe_id(self) -> int:
        """The id the next reserved stripe gets (stripes below it are reserved already)."""
        with self._lock:
            return self._next_stripe

