"""Read-only queries on a store catalog copy (an attached or opened `store.db`).

The Store keeps its catalog behind its own lock and repairs copies on open; recovery reads
a chosen copy directly instead, so it can look at an array the Store would not open.
"""

from __future__ import annotations

import logging
import sqlite3

from nasfs.store.catalog import ChunkRecord, StripeRecord

log = logging.getLogger(__name__)

_STRIPE_COLS = "id, segment, offset, shard_size, width, first_member, data_len"


def _stripe(row: sqlite3.Row) -> StripeRecord:
    return StripeRecord(*(int(row[i]) for i in range(7)))


def locate(conn: sqlite3.Connection, chunk_id: bytes, schema: str = "store"
           ) -> tuple[ChunkRecord, StripeRecord] | None:
    row = conn.execute(
        f"SELECT c.id, c.stripe, c.offset, c.length, c.refs, s.segment, s.offset, s.shard_size,"
        f" s.width, s.first_member, s.data_len FROM {schema}.chunks c"
        f" JOIN {schema}.stripes s ON s.id = c.stripe WHERE c.id = ?", (chunk_id,)).fetchone()
    if row is None:
        return None
    chunk = ChunkRecord(bytes(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
    return chunk, StripeRecord(chunk.stripe, *(int(row[i]) for i in range(5, 11)))


def stripe_ids(conn: sqlite3.Connection, schema: str = "store") -> list[int]:
    return [int(r[0]) for r in conn.execute(f"SELECT id FROM {schema}.stripes ORDER BY id")]


def stripe(conn: sqlite3.Connection, stripe_id: int, schema: str = "store") -> StripeRecord:
    row = conn.execute(f"SELECT {_STRIPE_COLS} FROM {schema}.stripes WHERE id = ?",
                       (stripe_id,)).fetchone()
    return _stripe(row)


def chunks_in_stripe(conn: sqlite3.Connection, stripe_id: int, schema: str = "store"
                     ) -> list[ChunkRecord]:
    rows = conn.execute(f"SELECT id, stripe, offset, length, refs FROM {schema}.chunks"
                        " WHERE stripe = ? ORDER BY offset", (stripe_id,)).fetchall()
    return [ChunkRecord(bytes(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def segment_ids(conn: sqlite3.Connection, schema: str = "store") -> list[int]:
    return [int(r[0]) for r in conn.execute(f"SELECT id FROM {schema}.segments ORDER BY id")]


def summary(conn: sqlite3.Connection, schema: str = "store") -> dict[str, int]:
    seg = conn.execute(
        f"SELECT count(*), COALESCE(SUM(raw_bytes), 0), COALESCE(SUM(data_bytes), 0),"
        f" COALESCE(SUM(live_bytes), 0) FROM {schema}.segments").fetchone()
    chunks = conn.execute(
        f"SELECT count(*), COALESCE(SUM(refs > 0), 0) FROM {schema}.chunks").fetchone()
    stripes = conn.execute(f"SELECT count(*) FROM {schema}.stripes").fetchone()
    return {"segments": int(seg[0]), "stored_bytes": int(seg[1]), "data_bytes": int(seg[2]),
            "live_bytes": int(seg[3]), "stripes": int(stripes[0]), "chunks": int(chunks[0]),
            "live_chunks": int(chunks[1])}


def state(conn: sqlite3.Connection, key: str, schema: str = "store") -> str | None:
    row = conn.execute(f"SELECT value FROM {schema}.state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])
