"""The chunk catalog (`store.db`, replicated on every member): where every chunk lives.

Tables (every size in bytes):
- segments: one row per segment number; its files are `nasfs/segments/%08d.seg` on members.
- stripes: where a stripe's shards are and its shape.
- chunks: chunk id (BLAKE3-256) -> stripe, offset in the stripe's data, length, refcount.
- state: small key/value records (scrub cursor, rebuild progress).

Not thread-safe by itself: the Store calls it under its catalog lock.

(Just over 500 lines: every statement on these tables is here, so the transaction rules
of puts, references, compaction and the cursors can be read in one place.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from nasfs.db import DBEvent, ReplicatedDB

log = logging.getLogger(__name__)

MIGRATIONS = Migrations("nasfs.store")


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE segments (
            id INTEGER PRIMARY KEY,          -- file name %08d.seg on every member
            end_offset INTEGER NOT NULL,     -- committed length of each member's file
            raw_bytes INTEGER NOT NULL,      -- shard bytes of committed stripes, all members
            data_bytes INTEGER NOT NULL,     -- chunk bytes committed into this segment
            live_bytes INTEGER NOT NULL      -- chunk bytes whose refcount is > 0
        )"""
    )
    db.execute(
        """CREATE TABLE stripes (
            id INTEGER PRIMARY KEY,          -- also sets the rotation: first_member = id % n
            segment INTEGER NOT NULL REFERENCES segments(id),
            offset INTEGER NOT NULL,         -- byte offset of every shard in its member file
            shard_size INTEGER NOT NULL,
            width INTEGER NOT NULL,          -- data shards (1..k); parity shards follow
            first_member INTEGER NOT NULL,   -- member holding shard 0; shard j on (first+j)%n
            data_len INTEGER NOT NULL        -- bytes of chunk data; the rest is zero padding
        )"""
    )
    db.execute("CREATE INDEX stripes_segment ON stripes(segment)")
    db.execute(
        """CREATE TABLE chunks (
            id BLOB PRIMARY KEY,             -- BLAKE3-256 of the content (32 bytes)
            stripe INTEGER NOT NULL REFERENCES stripes(id),
            offset INTEGER NOT NULL,         -- in the stripe's data (concatenated data shards)
            length INTEGER NOT NULL,
            refs INTEGER NOT NULL            -- 0: dead space until compaction drops the row
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX chunks_stripe ON chunks(stripe)")
    db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


class ChunkVanished(Exception):
    """A chunk a put wanted to add a reference to is gone (compacted away meanwhile)."""


@dataclass(frozen=True)
class StripeRecord:
    id: int
    segment: int
    offset: int
    shard_size: int
    width: int
    first_member: int
    data_len: int


@dataclass(frozen=True)
class ChunkRecord:
    id: bytes
    stripe: int
    offset: int
    length: int
    refs: int


@dataclass(frozen=True)
class PutRows:
    """What one put adds to the catalog: its stripes, its new chunks, references to others."""

    stripes: Sequence[StripeRecord]
    new_chunks: Sequence[ChunkRecord]
    more_refs: Mapping[bytes, int]


@dataclass(frozen=True)
class SegmentRecord:
    id: int
    end_offset: int
    raw_bytes: int
    data_bytes: int
    live_bytes: int


def _stripe(row: Any) -> StripeRecord:
    return StripeRecord(*(int(row[i]) for i in range(7)))


_STRIPE_COLS = "id, segment, offset, shard_size, width, first_member, data_len"


class Catalog:
    """Typed access to store.db; every write method commits durably before returning."""

    def __init__(self, db: ReplicatedDB):
        self.db = db

    @classmethod
    def open(
        cls, member_dirs: Sequence[Path], nparity: int, identity: str, events: Any = None,
        copy_ok: Any = None,
    ) -> Catalog:
        def relay(event: DBEvent) -> None:
            if events is not None:
                events(event)

        db = ReplicatedDB.open(
            "store",
            [d / "nasfs" / "db" for d in member_dirs],
            sync_copies=nparity + 1,
            migrations=MIGRATIONS,
            identity=identity,
            events=relay,
            copy_ok=copy_ok,
        )
        return cls(db)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ reads

    def next_stripe_id(self) -> int:
        # Ids never repeat, even after compaction dropped the highest ones: scrub and
        # rebuild cursors are stripe ids.
        row = self.db.query_one("SELECT COALESCE(MAX(id), -1) + 1 FROM stripes")
        floor = self.get_state("next_stripe") or 0
        return max(int(row[0]) if row else 0, int(floor))

    def segment_ids(self) -> set[int]:
        return {int(r[0]) for r in self.db.query("SELECT id FROM segments")}

    def segments(self) -> list[SegmentRecord]:
        rows = self.db.query(
            "SELECT id, end_offset, raw_bytes, data_bytes, live_bytes FROM segments ORDER BY id"
        )
        return [SegmentRecord(*(int(r[i]) for i in range(5))) for r in rows]

    def reclaimable_bytes(self, current_segment: int | None) -> int:
        """Dead chunk bytes in sealed segments: what compaction could give back now (the
        segment being appended to is never compacted)."""
        row = self.db.query_one(
            "SELECT COALESCE(SUM(data_bytes - live_bytes), 0) FROM segments WHERE id != ?",
            (-1 if current_segment is None else current_segment,))
        return int(row[0]) if row is not None else 0

    def lookup(self, chunk_id: bytes) -> tuple[ChunkRecord, StripeRecord] | None:
        row = self.db.query_one(
            "SELECT c.id, c.stripe, c.offset, c.length, c.refs, s.segment, s.offset,"
            " s.shard_size, s.width, s.first_member, s.data_len"
            " FROM chunks c JOIN stripes s ON s.id = c.stripe WHERE c.id = ?",
            (chunk_id,),
        )
        if row is None:
            return None
        chunk = ChunkRecord(bytes(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
        stripe = StripeRecord(chunk.stripe, *(int(row[i]) for i in range(5, 11)))
        return chunk, stripe

    def refs_of(self, chunk_ids: Iterable[bytes]) -> dict[bytes, int]:
        found: dict[bytes, int] = {}
        ids = list(chunk_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.db.query(f"SELECT id, refs FROM chunks WHERE id IN ({marks})", part):
                found[bytes(row[0])] = int(row[1])
        return found

    def stripes_from(self, first_id: int, limit: int) -> list[StripeRecord]:
        rows = self.db.query(
            f"SELECT {_STRIPE_COLS} FROM stripes WHERE id >= ? ORDER BY id LIMIT ?",
            (first_id, limit),
        )
        return [_stripe(r) for r in rows]

    def stripes_in_segment(self, segment: int) -> list[StripeRecord]:
        rows = self.db.query(
            f"SELECT {_STRIPE_COLS} FROM stripes WHERE segment = ? ORDER BY id", (segment,)
        )
        return [_stripe(r) for r in rows]

    def stripe_totals(self, first_id: int = 0) -> tuple[int, int]:
        """(stripe count, shard bytes per member summed) for stripes with id >= first_id."""
        row = self.db.query_one(
            "SELECT COUNT(*), COALESCE(SUM(shard_size), 0) FROM stripes WHERE id >= ?",
            (first_id,),
        )
        assert row is not None
        return int(row[0]), int(row[1])

    def stripe_bytes(self, nparity: int, before: int = 0) -> tuple[int, int]:
        """(shard bytes of every stripe on all members, those of stripes with id < before):
        the work of a whole scrub, and how much of it a scrub resumed at `before` did."""
        row = self.db.query_one(
            "SELECT COALESCE(SUM(shard_size * (width + ?)), 0),"
            " COALESCE(SUM(CASE WHEN id < ? THEN shard_size * (width + ?) END), 0)"
            " FROM stripes",
            (nparity, before, nparity),
        )
        assert row is not None
        return int(row[0]), int(row[1])

    def chunks_in_stripes(self, first_id: int, last_id: int) -> dict[int, list[ChunkRecord]]:
        """Chunks of every stripe with first_id <= id <= last_id, by stripe, in offset order
        (one query for a batch instead of one per stripe)."""
        rows = self.db.query(
            "SELECT id, stripe, offset, length, refs FROM chunks WHERE stripe BETWEEN ? AND ?"
            " ORDER BY stripe, offset",
            (first_id, last_id),
        )
        found: dict[int, list[ChunkRecord]] = {}
        for r in rows:
            rec = ChunkRecord(bytes(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            found.setdefault(rec.stripe, []).append(rec)
        return found

    def all_refs(self) -> dict[bytes, int]:
        """Every chunk's reference count (recovery compares them with the filesystem's)."""
        return {bytes(r[0]): int(r[1]) for r in self.db.query("SELECT id, refs FROM chunks")}

    def chunks_in_stripe(self, stripe: int) -> list[ChunkRecord]:
        rows = self.db.query(
            "SELECT id, stripe, offset, length, refs FROM chunks WHERE stripe = ? ORDER BY offset",
            (stripe,),
        )
        return [ChunkRecord(bytes(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    def live_chunks_in_segment(self, segment: int) -> list[ChunkRecord]:
        rows = self.db.query(
            "SELECT c.id, c.stripe, c.offset, c.length, c.refs FROM chunks c"
            " JOIN stripes s ON s.id = c.stripe WHERE s.segment = ? AND c.refs > 0"
            " ORDER BY c.stripe, c.offset",
            (segment,),
        )
        return [ChunkRecord(bytes(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    def totals(self) -> dict[str, int]:
        row = self.db.query_one(
            "SELECT COALESCE(SUM(raw_bytes),0), COALESCE(SUM(data_bytes),0),"
            " COALESCE(SUM(live_bytes),0), COUNT(*) FROM segments"
        )
        chunks = self.db.query_one("SELECT COUNT(*), COALESCE(SUM(refs > 0), 0) FROM chunks")
        assert row is not None and chunks is not None
        return {
            "raw_bytes": int(row[0]),
            "data_bytes": int(row[1]),
            "live_bytes": int(row[2]),
            "segments": int(row[3]),
            "chunks": int(chunks[0]),
            "live_chunks": int(chunks[1]),
        }

    def get_state(self, key: str) -> Any:
        row = self.db.query_one("SELECT value FROM state WHERE key = ?", (key,))
        return None if row is None else json.loads(row[0])

    # ----------------------------------------------------------------- writes

    def set_state(self, key: str, value: Any, *, commit: bool = True) -> None:
        if value is None:
            self.db.execute("DELETE FROM state WHERE key = ?", (key,))
        else:
            self.db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
        if commit:
            self.db.commit(durable=True)

    def new_segment(self, segment_id: int | None = None) -> int:
        if segment_id is None:
            row = self.db.query_one("SELECT COALESCE(MAX(id), 0) + 1 FROM segments")
            assert row is not None
            # Never reuse a number: files of a dropped segment may linger on a member.
            segment_id = max(int(row[0]), int(self.get_state("next_segment") or 1))
        self.set_state("next_segment", segment_id + 1, commit=False)
        self.db.execute(
            "INSERT INTO segments (id, end_offset, raw_bytes, data_bytes, live_bytes)"
            " VALUES (?, 0, 0, 0, 0)",
            (segment_id,),
        )
        self.db.commit(durable=True)
        return segment_id

    def record_put(
        self,
        stripes: Sequence[StripeRecord],
        nparity: int,
        new_chunks: Sequence[ChunkRecord],
        more_refs: Mapping[bytes, int],
    ) -> None:
        """Insert new stripes and chunks and add references to existing ones, durably."""
        if not self.record_puts([PutRows(stripes, new_chunks, more_refs)], nparity)[0]:
            raise ChunkVanished()

    def record_puts(self, puts: Sequence[PutRows], nparity: int) -> list[bool]:
        """Record several puts in one durable commit (one WAL fsync per copy for all).

        Returns, per put, whether it was recorded: False for a put that meant to add
        references to a chunk compaction has dropped meanwhile (nothing of that put is
        written; it stores the chunk anew). Any error rolls back every put of the call.
        """
        recorded: list[bool] = []
        try:
            for put in puts:
                gone = self._unknown([c for c, n in put.more_refs.items() if n])
                recorded.append(not gone)
                if not gone:
                    self._record(put, nparity)
            self.db.commit(durable=True)
        except BaseException:
            self.db.rollback()
            raise
        return recorded

    def _unknown(self, ids: Sequence[bytes]) -> bool:
        return any(self.db.query_one("SELECT 1 FROM chunks WHERE id = ?", (c,)) is None
                   for c in ids)

    def _record(self, put: PutRows, nparity: int) -> None:
        self._insert_stripes(put.stripes, nparity)
        by_stripe = {s.id: s.segment for s in put.stripes}
        self.db.executemany(
            "INSERT INTO chunks (id, stripe, offset, length, refs) VALUES (?, ?, ?, ?, ?)",
            [(c.id, c.stripe, c.offset, c.length, c.refs) for c in put.new_chunks],
        )
        per_segment: dict[int, int] = {}
        for c in put.new_chunks:
            seg = by_stripe[c.stripe]
            per_segment[seg] = per_segment.get(seg, 0) + c.length
        for seg, n in per_segment.items():
            self.db.execute(
                "UPDATE segments SET data_bytes = data_bytes + ?,"
                " live_bytes = live_bytes + ? WHERE id = ?",
                (n, n, seg),
            )
        if self._adjust_refs(put.more_refs):
            raise ChunkVanished()  # checked by _unknown in this transaction: cannot happen

    def _insert_stripes(self, stripes: Sequence[StripeRecord], nparity: int) -> None:
        self.db.executemany(
            f"INSERT INTO stripes ({_STRIPE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (s.id, s.segment, s.offset, s.shard_size, s.width, s.first_member, s.data_len)
                for s in stripes
            ],
        )
        for s in stripes:
            self.db.execute(
                "UPDATE segments SET end_offset = MAX(end_offset, ?),"
                " raw_bytes = raw_bytes + ? WHERE id = ?",
                (s.offset + s.shard_size, s.shard_size * (s.width + nparity), s.segment),
            )

    def _adjust_refs(self, deltas: Mapping[bytes, int]) -> list[bytes]:
        """Add deltas to refcounts (floored at 0), keeping segments' live_bytes right.

        Returns the ids that are not in the catalog (nothing is changed for them).
        """
        unknown: list[bytes] = []
        for cid, delta in deltas.items():
            if delta == 0:
                continue
            row = self.db.query_one(
                "SELECT c.refs, c.length, s.segment FROM chunks c"
                " JOIN stripes s ON s.id = c.stripe WHERE c.id = ?",
                (cid,),
            )
            if row is None:
                unknown.append(cid)
                continue
            old, length, seg = int(row[0]), int(row[1]), int(row[2])
            new = old + delta
            if new < 0:
                log.warning("chunk %s released more often than stored; refcount kept at 0",
                            cid.hex())
                new = 0
            self.db.execute("UPDATE chunks SET refs = ? WHERE id = ?", (new, cid))
            change = (new > 0) - (old > 0)
            if change:
                self.db.execute(
                    "UPDATE segments SET live_bytes = live_bytes + ? WHERE id = ?",
                    (change * length, seg),
                )
        return unknown

    def add_refs(self, deltas: Mapping[bytes, int]) -> None:
        try:
            for cid in self._adjust_refs(deltas):
                log.warning("reference change for unknown chunk %s ignored", cid.hex())
            self.db.commit(durable=True)
        except BaseException:
            self.db.rollback()
            raise

    def reconcile(self, refcounts: Mapping[bytes, int]) -> None:
        """Set every refcount to exactly the given value (absent chunks -> 0), durably."""
        try:
            current = self.all_refs()
            deltas = {cid: refcounts.get(cid, 0) - refs for cid, refs in current.items()}
            unknown = [cid for cid in refcounts if cid not in current]
            if unknown:
                log.warning("reconcile named %d chunks the store does not hold", len(unknown))
            self._adjust_refs({c: d for c, d in deltas.items() if d})
            self.db.commit(durable=True)
        except BaseException:
            self.db.rollback()
            raise

    def move_chunks(
        self, stripes: Sequence[StripeRecord], nparity: int, moved: Sequence[ChunkRecord],
        old_stripes: Mapping[bytes, int],
    ) -> list[bytes]:
        """Point chunks at their copies in new stripes (compaction), durably.

        A chunk is moved only if it still lives in the stripe it was copied from; returns
        the ids that were moved.
        """
        done: list[bytes] = []
        try:
            self._insert_stripes(stripes, nparity)
            by_stripe = {s.id: s.segment for s in stripes}
            per_segment: dict[int, tuple[int, int]] = {}
            for c in moved:
                row = self.db.query_one(
                    "SELECT c.refs, c.stripe, s.segment FROM chunks c"
                    " JOIN stripes s ON s.id = c.stripe WHERE c.id = ?",
                    (c.id,),
                )
                if row is None or int(row[1]) != old_stripes[c.id]:
                    continue
                refs, old_seg = int(row[0]), int(row[2])
                self.db.execute(
                    "UPDATE chunks SET stripe = ?, offset = ? WHERE id = ?",
                    (c.stripe, c.offset, c.id),
                )
                live = c.length if refs > 0 else 0
                self.db.execute(
                    "UPDATE segments SET data_bytes = data_bytes - ?,"
                    " live_bytes = live_bytes - ? WHERE id = ?",
                    (c.length, live, old_seg),
                )
                d, lv = per_segment.get(by_stripe[c.stripe], (0, 0))
                per_segment[by_stripe[c.stripe]] = (d + c.length, lv + live)
                done.append(c.id)
            for seg, (d, lv) in per_segment.items():
                self.db.execute(
                    "UPDATE segments SET data_bytes = data_bytes + ?,"
                    " live_bytes = live_bytes + ? WHERE id = ?",
                    (d, lv, seg),
                )
            self.db.commit(durable=True)
        except BaseException:
            self.db.rollback()
            raise
        return done

    def drop_segment(self, segment: int) -> int:
        """Forget a segment whose live chunks all moved; returns dead chunk rows dropped.

        Raises ValueError (nothing changed) if a live chunk still points into it.
        """
        try:
            live = self.db.query_one(
                "SELECT COUNT(*) FROM chunks c JOIN stripes s ON s.id = c.stripe"
                " WHERE s.segment = ? AND c.refs > 0",
                (segment,),
            )
            assert live is not None
            if int(live[0]):
                raise ValueError(f"segment {segment} still holds live chunks")
            cur = self.db.execute(
                "DELETE FROM chunks WHERE stripe IN (SELECT id FROM stripes WHERE segment = ?)",
                (segment,),
            )
            dropped = cur.rowcount
            self.set_state("next_stripe", self.next_stripe_id(), commit=False)
            self.db.execute("DELETE FROM stripes WHERE segment = ?", (segment,))
            self.db.execute("DELETE FROM segments WHERE id = ?", (segment,))
            self.db.commit(durable=True)
        except BaseException:
            self.db.rollback()
            raise
        return int(dropped)
