"""One logical SQLite database with a copy on every member disk.

Why: the metadata is the one thing no parity can rebuild, so it must outlive the loss of
any member. Every write statement runs on the primary copy
and on enough *synchronous* copies to survive the loss of `nparity` members; the remaining
*lagging* copies are refreshed from a consistent read snapshot of the primary by
`refresh_lagging()` (owners call it periodically from a worker thread) and at clean close.

Each copy stores a commit generation in its `_replica` row, bumped inside every
transaction, so the newest copy is the one with the highest generation. At open, copies are
compared, corrupt or stale ones are replaced by the newest healthy one, and each repair is
reported to the event sink.

Page checksums (nasfs.db.checksums): every connection goes through the checksum VFS, so
a changed byte anywhere in a page of a copy fails the read that meets it. At open every copy
is verified whole (every page's stamp, then quick_check) and a damaged copy is never the
source; it is repaired from the newest sound one. `verify_copies` + `repair_copies` do the
same while running (the scrub). A copy is only ever replaced by a copy that was read through
the VFS (so every source page was verified) and whose written file verifies again.

Failure handling while running: a copy whose file vanished (member emptied or removed) or
that raises an I/O-class SQLite error is dropped from the set and reported; a lagging copy
is promoted to keep the synchronous count. A copy found *damaged* (checksum mismatch,
corruption) by a read or a statement is dropped the same way (reads fail over to the next
copy) and then repaired: it joins the lagging copies and is rewritten from the primary by
the next refresh or promotion. Statement errors that are the caller's fault (constraint
violations, SQL errors) raise from the primary before any replica runs them.

A full disk (SQLITE_FULL) is neither: the copy is intact at its last commit. While another
copy takes the write, the full one leaves the synchronous set, is reported ("full" event,
mailed by the daemon) and waits among the lagging copies until its disk has room; the
write stands on the copies that took it. When no copy can take a write, the open
transaction is rolled back on every copy and WriteFailed (ENOSPC) is raised: the database
is exactly as at its last commit, and the owner's `abort_listeners` are told so that it
puts its own state back. The last copy failing (MetadataLostError) rolls back the same way.

Not thread-safe: one owner uses it from one thread at a time (the filesystem from the
trio thread, the store under its own lock). `refresh_lagging` uses its own connection and
may run concurrently in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sqlite_utils.migrations import Migrations

from nasfs.db import checksums
from nasfs.db.copy import DamagedCopyError, DatabaseCopy, copy_database
from nasfs.db.events import (
    AbortListener,
    CopyGuard,
    DBEvent,
    EventSink,
    MetadataLostError,
    WriteFailed,
)
from nasfs.db.opening import open_copies, read_replica_row
from nasfs.db.roles import FULL_RETRY_S, CopyRoles, is_full

__all__ = ["FULL_RETRY_S", "AbortListener", "CopyGuard", "DBEvent", "DamagedCopyError",
           "EventSink", "MetadataLostError", "ReplicatedDB", "WriteFailed", "copy_database"]

log = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any]


# SQLite primary result codes that mean "this copy's storage is broken", as opposed to
# an error in the statement. SQLITE_FULL is deliberately absent: a full disk must fail the
# operation, not silently shrink the set of copies (see `_set_aside_full`).
_STORAGE_ERRORS = frozenset(
    {
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
    }
)


def _is_storage_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
        )
    return (code & 0xFF) in _STORAGE_ERRORS


class ReplicatedDB(CopyRoles):
    """A SQLite database kept identical on several directories (see module docstring)."""

    # True: a commit that finds too few synchronous copies promotes a lagging one at once
    # (copying the whole database on the committing thread). An owner on an event loop
    # sets False and runs `sync_short` / refresh_lagging (worker) / `join_current_lagging`
    # instead (nasfs.daemon.promotion).
    promote_in_commit = True

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        name: str,
        dirs: Sequence[Path],
        *,
        sync_copies: int,
        migrations: Migrations | Sequence[Migrations],
        identity: str | None = None,
        events: EventSink | None = None,
        copy_ok: CopyGuard | None = None,
    ) -> ReplicatedDB:
        """The database `name` opened (or created) by `nasfs.db.opening.open_copies`, which
        says what each argument means and what it raises."""
        got = open_copies(name, dirs, sync_copies=sync_copies, migrations=migrations,
                          identity=identity, events=events, copy_ok=copy_ok)
        return cls(name, got.primary, got.sync, got.lagging, got.sync_copies, got.identity,
                   events, copy_ok)

    # ------------------------------------------------------------------ access

    @property
    def generation(self) -> int:
        return int(self.query_one("SELECT generation FROM _replica WHERE id = 1")[0])  # type: ignore[index]

    # The reads and `execute` below are the statements of every request: they call the
    # connections inline, with the failure handling of `_run_on_primary`,
    # `_run_on_replica` and `_aborting` in their `except` clauses (`_primary_failed`,
    # `_replica_failed`, `_abort`), because a lambda, a context manager and two method
    # calls per statement cost as much Python time as the statement itself costs SQLite.

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        # As _run_on_primary: a page that fails its checksum fails over to the next
        # copy (which holds the same rows, inside an open transaction too) and the read
        # is answered from there.
        while True:
            conn = self._primary.conn
            assert conn is not None
            try:
                rows: list[sqlite3.Row] = conn.execute(sql, params).fetchall()
                return rows
            except sqlite3.Error as exc:
                self._primary_failed(exc)

    def query_tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """As `query`, with rows as plain tuples: building a `sqlite3.Row` per row costs
        about as much again as fetching it, which counts in listings of thousands."""
        def run(c: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cur = c.cursor()
            cur.row_factory = None
            rows: list[tuple[Any, ...]] = cur.execute(sql, params).fetchall()
            return rows
        rows: list[tuple[Any, ...]] = self._run_on_primary(run)
        return rows

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        while True:
            conn = self._primary.conn
            assert conn is not None
            try:
                row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
                return row
            except sqlite3.Error as exc:
                self._primary_failed(exc)

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run a write statement on every synchronous copy; returns the primary's cursor.

        WriteFailed when no copy could take it (see `_aborting`)."""
        self.changes += 1
        try:
            if not self._in_transaction:
                self._begin()
            while True:
                conn = self._primary.conn
                assert conn is not None
                try:
                    cur = conn.execute(sql, params)
                    break
                except sqlite3.Error as exc:
                    self._primary_failed(exc)
            for copy in list(self._sync):
                replica = copy.conn
                assert replica is not None
                try:
                    replica.execute(sql, params).fetchall()
                except sqlite3.Error as exc:
                    self._replica_failed(copy, exc)
        except WriteFailed:
            raise
        except (sqlite3.Error, MetadataLostError) as exc:
            self._abort(exc)
        return cur

    def executemany(self, sql: str, seq: Iterable[Params]) -> sqlite3.Cursor:
        rows = list(seq)
        self.changes += 1
        with self._aborting():
            self._begin()
            cur = self._run_on_primary(lambda c: c.executemany(sql, rows))
            for copy in list(self._sync):
                self._run_on_replica(copy, lambda c: c.executemany(sql, rows))
        return cur

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def commit(self, *, durable: bool = False) -> None:
        """Commit on every copy; with `durable`, return only once it is on stable storage."""
        if self._primary_damage is not None and not self._in_transaction and self._sync:
            self._drop(self._primary, self._primary_damage, damaged=True)
        if self._in_transaction:
            self.commit_writes += 1
            self.execute("UPDATE _replica SET generation = generation + 1 WHERE id = 1")
            with self._aborting():
                self._commit_copies()
        if durable:
            self._check_files()
            for copy in [self._primary, *self._sync]:
                try:
                    copy.fsync_wal()
                except OSError as exc:
                    if copy is self._primary and not self._sync:
                        # The last copy's disk failed its flush: what was committed may not
                        # be on it. The owner's rule for a lost last copy, not an internal
                        # error (a raw OSError came out of the FUSE adapter as one, with its
                        # traceback).
                        raise MetadataLostError(
                            f"the last copy of the {self.name} database ({copy.path}) could "
                            f"not be written to its disk: {exc.strerror or exc}") from exc
                    self._drop(copy, f"fsync failed: {exc}")
        if self.promote_in_commit:
            self._keep_sync_count()

    def _commit_copies(self) -> None:
        """COMMIT on the synchronous copies, then on the primary.

        A copy whose disk is full steps aside (`_step_aside`) as long as another copy takes
        the commit; the commit stands on the copies that took it. When no copy took it, it
        fails as a whole: rolled back everywhere, the set of copies as it was, and the error
        raised (`_aborting` makes it a WriteFailed).
        """
        for copy in list(self._sync):
            assert copy.conn is not None
            try:
                copy.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if is_full(exc):
                    self._step_aside(copy, checksums.describe(exc))
                else:
                    self._drop(copy, checksums.describe(exc), damaged=checksums.is_damage(exc))
        assert self._primary.conn is not None
        try:
            self._primary.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if not self._sync:
                raise  # no copy has it: the whole commit fails
            # The change is on the copies that committed: they carry on without this one.
            if is_full(exc):
                self._step_aside(self._primary, checksums.describe(exc))
            else:
                self._drop(self._primary, checksums.describe(exc),
                           damaged=checksums.is_damage(exc))
        self._end_transaction(committed=True)

    def _step_aside(self, copy: DatabaseCopy, why: str) -> None:
        """Inside a transaction: a copy whose disk is full leaves it (rolled back, so at its
        last commit; a primary hands over to the next synchronous copy). Whether it is set
        aside for good (`_set_aside_full`) is decided when the transaction ends: if no copy
        can take the write either, every copy is back where it was and nothing is lost."""
        if copy.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                copy.conn.execute("ROLLBACK")
        if copy is self._primary:
            self._primary = self._sync.pop(0)
        elif copy in self._sync:
            self._sync.remove(copy)
        self._aside.append((copy, why))

    def _end_transaction(self, *, committed: bool) -> None:
        aside, self._aside = self._aside, []
        order, self._txn_copies = self._txn_copies, []
        self._in_transaction = False
        if not committed:
            # Every copy is at the last commit again: the set of copies is as it was.
            still = [self._primary, *self._sync, *(c for c, _ in aside)]
            kept = [c for c in order if any(c is s for s in still)]
            if kept:
                self._primary, self._sync = kept[0], kept[1:]
            return
        if order and any(order[0] is c for c, _ in aside):
            self._emit("promoted", self._primary.path, f"became primary after: {aside[0][1]}")
        for copy, why in aside:
            self._set_aside_full(copy, why)

    @contextlib.contextmanager
    def _aborting(self) -> Any:
        """Around a write: when no copy could take it (every copy's disk full, or the last
        copy failed), roll the open transaction back on every copy, tell the abort
        listeners, and raise WriteFailed (MetadataLostError for a lost last copy), so
        the database is exactly as at its last commit and the caller knows it."""
        try:
            yield
        except WriteFailed:
            raise
        except (sqlite3.Error, MetadataLostError) as exc:
            self._abort(exc)

    def _abort(self, exc: sqlite3.Error | MetadataLostError) -> NoReturn:
        """`_aborting`'s handling of `exc` (raised inside a write): re-raised as it is when
        it is the statement's own fault, else the rollback and WriteFailed (or the
        MetadataLostError) described there. Called from an `except` clause."""
        lost = isinstance(exc, MetadataLostError)
        if isinstance(exc, sqlite3.Error) and not is_full(exc) \
                and not _is_storage_error(exc):
            raise exc  # the statement's own fault (a constraint, bad SQL): nothing is lost
        self.rollback()
        what = "no copy has room" if is_full(exc) else "its last copy failed"
        failed = WriteFailed(
            f"the {self.name} database could not be written ({what}: "
            f"{exc if lost else checksums.describe(exc)}); its changes since the last "
            "commit were rolled back", no_space=not lost and is_full(exc))
        log.error("%s", failed)
        for listener in list(self.abort_listeners):
            try:
                listener(failed)
            except Exception:
                log.exception("%s: an abort listener failed", self.name)
        if lost:
            raise exc
        raise failed from exc

    def rollback(self) -> None:
        if not self._in_transaction:
            return
        self.changes += 1
        self.rollbacks += 1
        for copy in [self._primary, *self._sync, *(c for c, _ in self._aside)]:
            if copy.conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    copy.conn.execute("ROLLBACK")
        self._end_transaction(committed=False)

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = False) -> Any:
        """`with db.transaction():` commits on success, rolls back on an exception."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit(durable=durable)

    def close(self) -> None:
        """Commit what is pending, bring every copy up to date, and close.

        The connections are closed even when that fails (a member lost or full under the
        primary): refreshing lagging copies is best effort (they are repaired at the next
        open), and a failed final commit is raised only after every copy is closed. A
        primary found damaged on the way (by the checkpoint or as the refresh source)
        hands over to the next synchronous copy, and is rewritten from it.
        """
        try:
            if self._in_transaction:
                self.commit(durable=True)
        finally:
            self._checkpoint_all()
            try:
                self.refresh_lagging()
                while self._primary_damage is not None and self._sync:
                    self._drop(self._primary, self._primary_damage, damaged=True)
                    self._checkpoint_all()
                    self.refresh_lagging()
            except (OSError, sqlite3.Error) as exc:
                log.warning("%s: lagging copies not refreshed at close (%s); the next open "
                            "repairs them", self.name, exc)
            for copy in [self._primary, *self._sync]:
                with contextlib.suppress(OSError, sqlite3.Error):
                    copy.close()

    def _checkpoint_all(self) -> None:
        for copy in [self._primary, *self._sync]:
            if copy.conn is None:
                continue
            try:
                copy.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                # A checkpoint reads every WAL page it moves, so it meets damage too.
                if checksums.is_damage(exc) and copy is self._primary:
                    self._primary_damage = f"checkpoint failed: {checksums.describe(exc)}"

    # --------------------------------------------------------------- internals

    def _begin(self) -> None:
        if self._in_transaction:
            return
        self._run_on_primary(lambda c: c.execute("BEGIN IMMEDIATE"))
        for copy in list(self._sync):
            self._run_on_replica(copy, lambda c: c.execute("BEGIN IMMEDIATE"))
        self._in_transaction = True
        # The roles as they were, put back if the transaction fails on every copy.
        self._txn_copies = [self._primary, *self._sync]

    def _run_on_primary(self, op: Callable[[sqlite3.Connection], Any]) -> Any:
        while True:
            assert self._primary.conn is not None
            try:
                return op(self._primary.conn)
            except sqlite3.Error as exc:
                self._primary_failed(exc)

    def _primary_failed(self, exc: sqlite3.Error) -> None:
        """`exc` from a statement on the primary (called from the `except` clause): a full
        or failed primary hands over to the next synchronous copy and the caller runs the
        statement again there (this returns); otherwise `exc` (or MetadataLostError, when
        no copy is left) is raised."""
        if is_full(exc) and self._sync:
            # Its disk is full, the others may not be: they carry on without it.
            self._step_aside(self._primary, checksums.describe(exc))
            return
        if not _is_storage_error(exc):
            raise exc
        if not self._sync:
            raise MetadataLostError(
                f"the last copy of the {self.name} database failed: "
                f"{checksums.describe(exc)}"
            ) from exc
        self._drop(self._primary, checksums.describe(exc),
                   damaged=checksums.is_damage(exc))

    def _run_on_replica(self, copy: DatabaseCopy, op: Callable[[sqlite3.Connection], Any]) -> None:
        assert copy.conn is not None
        try:
            op(copy.conn)
        except sqlite3.Error as exc:
            self._replica_failed(copy, exc)

    def _replica_failed(self, copy: DatabaseCopy, exc: sqlite3.Error) -> None:
        # The primary accepted the statement, so any error here means this copy diverged
        # or its disk failed: either way it can no longer be trusted.
        if is_full(exc):
            self._step_aside(copy, checksums.describe(exc))
            return
        self._drop(copy, checksums.describe(exc), damaged=checksums.is_damage(exc))

    # ---------------------------------------------------- promotion off the owner's loop

    @property
    def sync_short(self) -> bool:
        """Fewer synchronous copies than wanted while a lagging copy could be promoted."""
        return len(self._sync) + 1 < self._want_sync and bool(self._lagging)

    def join_current_lagging(self) -> int:
        """Promote the lagging copies that already hold the primary's last commit (a
        `refresh_lagging` in a worker just brought them there); returns how many joined.

        Owner's thread, outside a transaction; cheap (one connection and one read per
        copy), so an event loop may call it: the copying happened in the worker.
        """
        if self._in_transaction:
            return 0
        joined = 0
        current = self.generation
        while len(self._sync) + 1 < self._want_sync:
            with self._lagging_lock:
                ready = [c for c in self._lagging if c.path not in self._damaged]
            copy = next((c for c in ready if _generation_of(c.path) == current), None)
            if copy is None or self._refused(copy):
                return joined
            with self._lagging_lock:
                if copy not in self._lagging:
                    return joined
                self._lagging.remove(copy)
            try:
                copy.connect()
            except (OSError, sqlite3.Error) as exc:
                self._emit("failed", copy.path, f"could not be promoted: {exc}")
                continue
            self._note_repaired(copy.path)
            self._sync.append(copy)
            joined += 1
            self._emit("promoted", copy.path, "now kept in sync")
        return joined

    def keep_sync_count(self) -> None:
        """Promote lagging copies now, copying on this (the owner's) thread."""
        self._keep_sync_count()


def _generation_of(path: Path) -> int | None:
    """The commit generation a closed copy holds (None when it cannot be read)."""
    try:
        conn = checksums.connect(path)
    except (OSError, sqlite3.Error):
        return None
    try:
        row = read_replica_row(conn)
    except (OSError, sqlite3.Error):
        return None
    finally:
        conn.close()
    return None if row is None else row[0]
