"""Typed access to `audit.db`: appending hash-chained rows, querying, verifying the chain and
pruning old rows while keeping what is left verifiable.

Each row's `hash` is BLAKE3(prev_hash + canonical encoding of the row, its id included), and
its `prev_hash` is the previous row's `hash`. The first row after the chain's anchor has the
anchor's hash as `prev_hash`: the genesis hash of the log, or after pruning the hash of the
last pruned row. The `chain` table also keeps the newest row's id and hash, so rows cut off
the end are noticed too. Someone able to rewrite the whole database can of course rewrite
the whole chain; the exported CSV files and the chain anchor are the outside references.

Not thread-safe by itself: callers (nasfs.policy.service) hold the audit lock.
"""

from __future__ import annotations

import builtins
import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import blake3

from nasfs.db import ReplicatedDB

log = logging.getLogger(__name__)

KINDS = ("access", "system")
_TABLES = {"access": "access_log", "system": "system_log"}
HASH_BYTES = 32
MAX_QUERY_LIMIT = 5000


def genesis_hash(kind: str) -> bytes:
    # Different per log, so a row cannot be moved from one log into the other unnoticed.
    return blake3.blake3(f"nasfs {kind} log genesis".encode()).digest()


# The user rows made by the box itself carry (schedules, retention, the lock of a terminal),
# so a log reader always sees who acted: nasfs.operations.SYSTEM_ACTOR, imported above.


@dataclass(frozen=True)
class LogEntry:
    """One thing to log. Paths may be str or (exact, possibly non-UTF-8) bytes."""

    operation: str
    result: str = "OK"
    user: str | None = None
    uid: int | None = None
    pid: int | None = None
    process: str | None = None
    share: str | None = None
    path: bytes | str | None = None
    second_path: bytes | str | None = None
    bytes: int | None = None
    admin: bool = False
    detail: str | None = None
    time_ns: int | None = None  # None: stamped by the log's clock when recorded
    client: str | None = None  # the network client's address (an SMB session's), if any


@dataclass(frozen=True)
class LogRow:
    """A stored row."""

    id: int
    time_ns: int
    user: str | None
    uid: int | None
    pid: int | None
    process: str | None
    share: str | None
    path: bytes | str | None  # bytes as written; str only if someone tampered with it
    second_path: bytes | str | None
    operation: str
    result: str
    bytes: int | None
    admin: bool
    detail: str | None
    prev_hash: builtins.bytes  # (the field `bytes` above shadows the type name here)
    hash: builtins.bytes
    client: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("prev_hash", "hash", "path", "second_path")}
        body["path"] = display_bytes(self.path)
        body["second_path"] = display_bytes(self.second_path)
        body["hash"] = self.hash.hex()
        return body


# The columns a row's hash covers, in hashing order (the stored ones minus the two hashes).
HASHED_COLUMNS = ("id", "time_ns", "user", "uid", "pid", "process", "share", "path",
                  "second_path", "operation", "result", "bytes", "admin", "detail")
# Hashed after those, only when set (so the rows written before the column existed keep
# their hashes, and setting or clearing it later breaks the row's hash either way).
OPTIONAL_COLUMNS = ("client",)
STORED_COLUMNS = HASHED_COLUMNS + OPTIONAL_COLUMNS


def hashed_values(values: Sequence[Any], optional: Sequence[Any]) -> list[Any]:
    """What a row's hash covers: the fixed columns, then each optional one that is set."""
    return [*values, *(v for v in optional if v is not None)]


def display_bytes(value: bytes | str | None) -> str | None:
    """Bytes as text for people: UTF-8 where it is, `\\xNN` escapes where it is not."""
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "backslashreplace")


def _as_bytes(value: bytes | str | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    # surrogateescape: a str that came from os.fsdecode gets its original bytes back.
    return value.encode("utf-8", "surrogateescape")


_LENGTH = struct.Struct(">I").pack


def canonical(values: Sequence[Any]) -> bytes:
    """An unambiguous byte encoding of a row's hashed values (type tag, length, content).

    The encoding is the chain's format (every stored hash depends on it, so it never
    changes; tests/test_policy_log.py holds a golden digest): None is `N`; an int or bool
    `I` + 4-byte big-endian length + its decimal text; a str `T` + length + UTF-8
    (surrogatepass); bytes or a memoryview `B` + length + the bytes; anything else `?` +
    length + its repr. Built as one join of parts, tested by exact type first: the
    access-log writer encodes every row, holding the GIL the trio thread needs."""
    parts: list[bytes] = []
    add = parts.append
    for value in values:
        kind = type(value)
        if value is None:
            add(b"N")
            continue
        if kind is str:
            tag, data = b"T", value.encode("utf-8", "surrogatepass")
        elif kind is int or kind is bool:
            tag, data = b"I", str(int(value)).encode()
        elif kind is bytes:
            tag, data = b"B", value
        elif isinstance(value, bool | int):
            tag, data = b"I", str(int(value)).encode()
        elif isinstance(value, str):
            tag, data = b"T", value.encode("utf-8", "surrogatepass")
        elif isinstance(value, bytes | memoryview):
            tag, data = b"B", bytes(value)
        else:
            tag, data = b"?", repr(value).encode()
        add(tag)
        add(_LENGTH(len(data)))
        add(data)
    return b"".join(parts)


def row_hash(prev_hash: bytes, values: Sequence[Any]) -> bytes:
    return blake3.blake3(prev_hash + canonical(values)).digest()


@dataclass(frozen=True)
class Chain:
    anchor_id: int
    anchor_hash: bytes
    head_id: int
    head_hash: bytes


@dataclass(frozen=True)
class VerifyReport:
    kind: str
    ok: bool
    rows: int  # rows checked
    first_bad_id: int | None
    problem: str | None
    # Rows lost before they reached the log, each reported by a chained `log-lost` row:
    # (that row's id, what it says). The chain is intact around them, the rows are not.
    gaps: tuple[tuple[int, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ok": self.ok, "rows": self.rows,
                "first_bad_id": self.first_bad_id, "problem": self.problem,
                "gaps": [{"id": i, "detail": d} for i, d in self.gaps]}


@dataclass(frozen=True)
class LogFilter:
    """Which rows a query or export wants. Times are UTC ns, inclusive `since`, exclusive
    `until`."""

    since_ns: int | None = None
    until_ns: int | None = None
    user: str | None = None
    share: str | None = None
    operation: str | None = None
    result: str | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, op, value in (("time_ns", ">=", self.since_ns),
                                  ("time_ns", "<", self.until_ns),
                                  ("user", "=", self.user), ("share", "=", self.share),
                                  ("operation", "=", self.operation),
                                  ("result", "=", self.result)):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        return clauses, params


class AuditStore:
    """Rows of the access and system logs in one ReplicatedDB."""

    def __init__(self, db: ReplicatedDB) -> None:
        self.db = db

    def chain(self, kind: str) -> Chain:
        r = self.db.query_one("SELECT * FROM chain WHERE kind = ?", (kind,))
        if r is None:
            genesis = genesis_hash(kind)
            return Chain(0, genesis, 0, genesis)
        return Chain(r["anchor_id"], bytes(r["anchor_hash"]), r["head_id"],
                     bytes(r["head_hash"]))

    def _set_chain(self, kind: str, chain: Chain) -> None:
        self.db.execute(
            "INSERT INTO chain (kind, anchor_id, anchor_hash, head_id, head_hash) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET "
            "anchor_id = excluded.anchor_id, anchor_hash = excluded.anchor_hash, "
            "head_id = excluded.head_id, head_hash = excluded.head_hash",
            (kind, chain.anchor_id, chain.anchor_hash, chain.head_id, chain.head_hash))

    def append(self, kind: str, entries: Sequence[LogEntry], now_ns: int, *,
               durable: bool = False) -> list[int]:
        """Write `entries` to log `kind` in one transaction; returns their row ids."""
        table = _TABLES[kind]
        ids: list[int] = []
        with self.db.transaction(durable=durable):
            chain = self.chain(kind)
            prev, next_id = chain.head_hash, chain.head_id + 1
            rows = []
            for e in entries:
                values = (next_id, e.time_ns if e.time_ns is not None else now_ns, e.user,
                          e.uid, e.pid, e.process, e.share, _as_bytes(e.path),
                          _as_bytes(e.second_path), e.operation, e.result, e.bytes,
                          int(e.admin), e.detail)
                optional = (e.client,)
                digest = row_hash(prev, hashed_values(values, optional))
                rows.append((*values, *optional, prev, digest))
                ids.append(next_id)
                prev, next_id = digest, next_id + 1
            self.db.executemany(
                f"INSERT INTO {table} ({', '.join(STORED_COLUMNS)}, prev_hash, hash) "
                f"VALUES ({', '.join('?' * (len(STORED_COLUMNS) + 2))})", rows)
            if ids:
                self._set_chain(kind, Chain(chain.anchor_id, chain.anchor_hash, ids[-1], prev))
        return ids

    def query(self, kind: str, flt: LogFilter, *, after_id: int = 0, before_id: int | None = None,
              limit: int = 100, descending: bool = False) -> list[LogRow]:
        clauses, params = flt.where()
        clauses.append("id > ?")
        params.append(after_id)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        order = "DESC" if descending else "ASC"
        limit = max(1, min(int(limit), MAX_QUERY_LIMIT))
        rows = self.db.query(f"SELECT * FROM {_TABLES[kind]} WHERE {' AND '.join(clauses)} "
                             f"ORDER BY id {order} LIMIT ?", (*params, limit))
        return [_row(r) for r in rows]

    def iterate(self, kind: str, flt: LogFilter, batch: int = 2000) -> Iterator[LogRow]:
        after = 0
        while True:
            rows = self.query(kind, flt, after_id=after, limit=batch)
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].id

    def count(self, kind: str) -> int:
        row = self.db.query_one(f"SELECT count(*) FROM {_TABLES[kind]}")
        return int(row[0]) if row else 0

    def verify(self, kind: str) -> VerifyReport:
        """Walk the chain from its anchor; report the first broken link."""
        chain = self.chain(kind)
        prev_id, prev_hash, checked = chain.anchor_id, chain.anchor_hash, 0
        gaps: list[tuple[int, str]] = []
        cursor = self.db.conn.execute(f"SELECT * FROM {_TABLES[kind]} ORDER BY id")
        for raw in cursor:
            row = _row(raw)
            checked += 1

            def bad(problem: str, row_id: int = row.id, rows: int = checked) -> VerifyReport:
                return VerifyReport(kind, False, rows, row_id, problem, tuple(gaps))

            if row.id != prev_id + 1:
                if row.id <= chain.anchor_id:
                    return bad(f"row {row.id} should have been pruned (the chain starts after "
                               f"row {chain.anchor_id})")
                if row.id == prev_id + 2:
                    return bad(f"row {prev_id + 1} is missing before row {row.id} (deleted)")
                return bad(f"rows {prev_id + 1} to {row.id - 1} are missing before row "
                           f"{row.id} (deleted)")
            if row.prev_hash != prev_hash:
                return bad(f"row {row.id} does not link to row {prev_id}: its prev_hash differs "
                           f"from that row's hash (row {prev_id} or the link was changed)")
            values = [getattr(row, c) for c in HASHED_COLUMNS]
            values[HASHED_COLUMNS.index("admin")] = raw["admin"]
            optional = [getattr(row, c) for c in OPTIONAL_COLUMNS]
            if row_hash(row.prev_hash, hashed_values(values, optional)) != row.hash:
                return bad(f"row {row.id} does not match its hash: its contents were edited")
            prev_id, prev_hash = row.id, row.hash
            if row.operation == "log-lost":
                gaps.append((row.id, row.detail or "entries were lost"))
        if prev_id != chain.head_id or prev_hash != chain.head_hash:
            return VerifyReport(kind, False, checked, prev_id + 1 if prev_id < chain.head_id
                                else prev_id,
                                f"the log ends at row {prev_id} but row {chain.head_id} was "
                                f"written last (rows were removed from the end, or the chain "
                                f"head was changed)", tuple(gaps))
        return VerifyReport(kind, True, checked, None, None, tuple(gaps))

    def prune(self, kind: str, before_ns: int) -> int:
        """Delete rows older than `before_ns` (by id order), moving the anchor past them."""
        table = _TABLES[kind]
        with self.db.transaction():
            last = self.db.query_one(
                f"SELECT id, hash FROM {table} WHERE id <= (SELECT max(id) FROM {table} "
                f"WHERE time_ns < ?) ORDER BY id DESC LIMIT 1", (before_ns,))
            if last is None:
                return 0
            chain = self.chain(kind)
            cur = self.db.execute(f"DELETE FROM {table} WHERE id <= ?", (last["id"],))
            self._set_chain(kind, Chain(last["id"], bytes(last["hash"]), chain.head_id,
                                        chain.head_hash))
        return int(cur.rowcount)

    def meta(self, key: str) -> str | None:
        r = self.db.query_one("SELECT value FROM audit_meta WHERE key = ?", (key,))
        return str(r[0]) if r else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.transaction():
            self.db.execute("INSERT INTO audit_meta (key, value) VALUES (?, ?) ON CONFLICT "
                            "(key) DO UPDATE SET value = excluded.value", (key, value))


def _row(r: Any) -> LogRow:
    def blob(value: Any) -> bytes | None:
        if value is None:
            return None
        return bytes(value) if not isinstance(value, str) else value.encode("utf-8",
                                                                           "surrogatepass")

    return LogRow(
        id=r["id"], time_ns=r["time_ns"], user=r["user"], uid=r["uid"], pid=r["pid"],
        process=r["process"], share=r["share"], path=r["path"],
        second_path=r["second_path"], operation=r["operation"], result=r["result"],
        bytes=r["bytes"], admin=bool(r["admin"]), detail=r["detail"],
        prev_hash=blob(r["prev_hash"]) or b"", hash=blob(r["hash"]) or b"",
        client=r["client"])

