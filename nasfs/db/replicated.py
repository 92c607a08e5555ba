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

Not thread-safe: one owner uses it from one thread at a time (the filesystem from the
trio thread, the store under its own lock). `refresh_lagging` uses its own connection and
may run concurrently in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
from nasfs.db.opening import open_copies

__all__ = ["AbortListener", "CopyGuard", "DBEvent", "DamagedCopyError", "EventSink",
           "MetadataLostError", "ReplicatedDB", "WriteFailed", "copy_database"]

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


class ReplicatedDB:
    """A SQLite database kept identical on several directories (see module docstring)."""

    def __init__(
        self,
        name: str,
        primary: DatabaseCopy,
        sync: list[DatabaseCopy],
        lagging: list[DatabaseCopy],
        sync_copies: int,
        identity: str,
        events: EventSink | None,
        copy_ok: CopyGuard | None = None,
    ) -> None:
        self._copy_ok = copy_ok
        self.name = name
        self.identity = identity
        self._primary = primary
        self._sync = sync
        self._lagging = lagging
        self._want_sync = sync_copies
        self._events = events
        self._in_transaction = False
        self._lagging_lock = threading.Lock()
        # Copies found damaged while running, waiting for their rewrite from the primary
        # (they sit among the lagging copies until then).
        self._damaged: dict[Path, str] = {}
        # Set by refresh_lagging (any thread) when the primary itself failed to read as a
        # source; the owner's next commit or close fails over to a synchronous copy.
        self._primary_damage: str | None = None


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
        """Open (or create) database `name` with a copy `NAME.db` in each of `dirs`.

        `sync_copies` counts the primary. `migrations` may be several named sets (each layer
        that keeps tables in this database brings its own), applied in the order given.
        `identity` (e.g. the array UUID) is stamped into a new database; copies carrying
        another identity are treated as foreign and replaced.
        `copy_ok` is asked before a copy is written or created (see CopyGuard); directories
        it refuses are left out, and of the others only the last level may be created.
        Raises MetadataLostError when copies exist but none is usable (nasfs.db.opening).
        """
        got = open_copies(name, dirs, sync_copies=sync_copies, migrations=migrations,
                          identity=identity, events=events, copy_ok=copy_ok)
        return cls(name, got.primary, got.sync, got.lagging, got.sync_copies, got.identity,
                   events, copy_ok)

    # ------------------------------------------------------------------ access

    @property
    def generation(self) -> int:
        return int(self.query_one("SELECT generation FROM _replica WHERE id = 1")[0])  # type: ignore[index]

    @property
    def conn(self) -> sqlite3.Connection:
        """The primary connection, for reads only (writes must go through `execute`)."""
        assert self._primary.conn is not None
        return self._primary.conn

    def copies(self) -> list[Path]:
        """Paths of every copy in use: primary, synchronous, lagging."""
        return [c.path for c in (self._primary, *self._sync, *self._lagging)]

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        # Through _run_on_primary: a page that fails its checksum fails over to the next
        # copy (which holds the same rows, inside an open transaction too) and the read
        # is answered from there.
        rows: list[sqlite3.Row] = self._run_on_primary(
            lambda c: c.execute(sql, params).fetchall())
        return rows

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._run_on_primary(
            lambda c: c.execute(sql, params).fetchone())
        return row

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run a write statement on every synchronous copy; returns the primary's cursor."""
        self._begin()
        cur = self._run_on_primary(lambda c: c.execute(sql, params))
        for copy in list(self._sync):
            self._run_on_replica(copy, lambda c: c.execute(sql, params).fetchall())
        return cur

    def executemany(self, sql: str, seq: Iterable[Params]) -> sqlite3.Cursor:
        rows = list(seq)
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
            self.execute("UPDATE _replica SET generation = generation + 1 WHERE id = 1")
            for copy in list(self._sync):
                self._run_on_replica(copy, lambda c: c.execute("COMMIT"))
            self._run_on_primary(lambda c: c.execute("COMMIT"))
            self._in_transaction = False
        if durable:
            self._check_files()
            for copy in [self._primary, *self._sync]:
                try:
                    copy.fsync_wal()
                except OSError as exc:
                    if copy is self._primary and not self._sync:
                        raise
                    self._drop(copy, f"fsync failed: {exc}")
        self._keep_sync_count()

    def rollback(self) -> None:
        if not self._in_transaction:
            return
        for copy in [self._primary, *self._sync]:
            assert copy.conn is not None
            with contextlib.suppress(sqlite3.Error):
                copy.conn.execute("ROLLBACK")
        self._in_transaction = False

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = False) -> Any:
        """`with db.transaction():` commits on success, rolls back on an exception."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit(durable=durable)

    def refresh_lagging(self) -> None:
        """Bring every lagging copy up to the last committed state (run in a worker thread)."""
        self._drop_refused_lagging()
        with self._lagging_lock:
            targets = list(self._lagging)
            if not targets:
                return
            # From a synchronous copy when the primary's member is gone: it holds the same
            # commits, and the lagging copies would otherwise stay behind.
            source = next((c.path for c in [self._primary, *self._sync] if c.path.exists()),
                          self._primary.path)
            reader = checksums.connect(source)
            try:
                for copy in targets:
                    try:
                        copy_database(reader, copy.path)
                    except (OSError, sqlite3.Error) as exc:
                        if checksums.is_damage(exc) and not isinstance(exc, DamagedCopyError):
                            # The source failed its checks: nothing was replaced, and no
                            # other copy may be refreshed from it.
                            self._primary_damage = (f"damaged while used as the source of a "
                                                    f"refresh: {checksums.describe(exc)}")
                            self._emit("failed", source, self._primary_damage)
                            break
                        log.warning("%s: could not refresh copy %s: %s", self.name, copy.path, exc)
                        continue
                    self._note_repaired(copy.path)
            finally:
                reader.close()

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

    # ------------------------------------------------------------------ scrub

    def verify_copies(self) -> dict[Path, list[str]]:
        """Verify every copy in use, whole (see checksums.verify); the problems of each.

        Safe from any thread (own connections; refreshes wait meanwhile). Changes nothing:
        `repair_copies` (the owner's thread) acts on the result.
        """
        found: dict[Path, list[str]] = {}
        for path in self.copies():
            # One copy at a time under the lock: a refresh must not replace the file under
            # the check, and the owner's promotions wait for one copy at most.
            with self._lagging_lock:
                found[path] = checksums.verify(path)
        return found

    def repair_copies(self, damaged: Iterable[Path]) -> dict[Path, str]:
        """Rewrite the damaged copies from a sound one; for each, "" or why it could not be.

        Owner's thread, outside a transaction. A damaged primary hands over to the next
        synchronous copy first, so the source of every rewrite is a copy that verified.
        """
        wanted = set(damaged)
        result: dict[Path, str] = {}
        for copy in [self._primary, *self._sync]:
            if copy.path in wanted:
                if copy is self._primary and not self._sync:
                    result[copy.path] = "no other sound copy to repair it from"
                    continue
                self._drop(copy, "damaged (found by scrub)", damaged=True)
        with self._lagging_lock:
            lagging = {c.path for c in self._lagging}
            for path in wanted - lagging:
                result.setdefault(path, "not a copy in use")
            for path in wanted & lagging:
                self._damaged.setdefault(path, "damaged (found by scrub)")
        self.refresh_lagging()
        for path in wanted & lagging:
            if path in self._damaged:
                result[path] = "could not be rewritten (see the log)"
            else:
                result.setdefault(path, "")
        self._keep_sync_count()
        return result

    # --------------------------------------------------------------- internals

    def _begin(self) -> None:
        if self._in_transaction:
            return
        self._run_on_primary(lambda c: c.execute("BEGIN IMMEDIATE"))
        for copy in list(self._sync):
            self._run_on_replica(copy, lambda c: c.execute("BEGIN IMMEDIATE"))
        self._in_transaction = True

    def _run_on_primary(self, op: Callable[[sqlite3.Connection], Any]) -> Any:
        while True:
            assert self._primary.conn is not None
            try:
                return op(self._primary.conn)
            except sqlite3.Error as exc:
                if not _is_storage_error(exc):
                    raise
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
            # The primary accepted the statement, so any error here means this copy diverged
            # or its disk failed: either way it can no longer be trusted.
            self._drop(copy, checksums.describe(exc), damaged=checksums.is_damage(exc))

    def _refused(self, copy: DatabaseCopy) -> bool:
        return self._copy_ok is not None and not self._copy_ok(copy.path)

    def _drop_refused_lagging(self) -> None:
        # The guard is asked outside the lagging lock: it takes the store's lock, which
        # the store holds while it commits (and a commit may take the lagging lock).
        refused = [c for c in list(self._lagging) if self._refused(c)]
        with self._lagging_lock:
            for copy in refused:
                if copy in self._lagging:
                    self._lagging.remove(copy)
                    self._emit("failed", copy.path, "its member is no longer in the array")

    def _check_files(self) -> None:
        for copy in [self._primary, *self._sync]:
            if self._refused(copy):
                if copy is self._primary and not self._sync:
                    raise MetadataLostError(
                        f"the last copy of the {self.name} database ({copy.path}) is on a "
                        "member that is no longer in the array")
                self._drop(copy, "its member is no longer in the array")
                continue
            if not copy.still_there():
                if copy is self._primary and not self._sync:
                    raise MetadataLostError(
                        f"the last copy of the {self.name} database ({copy.path}) disappeared"
                    )
                self._drop(copy, "file disappeared (member emptied or removed)")

    def _drop(self, copy: DatabaseCopy, why: str, *, damaged: bool = False) -> None:
        copy.close()
        if copy is self._primary:
            self._primary = self._sync.pop(0)
            self._primary_damage = None
            self._emit("promoted", self._primary.path, f"became primary after: {why}")
        elif copy in self._sync:
            self._sync.remove(copy)
        if damaged and copy.still_there():
            # Its member is fine, its bytes are not: rewrite it from the primary (the next
            # refresh, or a promotion when the synchronous count is short).
            with self._lagging_lock:
                self._damaged[copy.path] = why
                if copy not in self._lagging:
                    self._lagging.append(copy)
            self._emit("failed", copy.path, f"{why}; it will be rewritten from a sound copy")
            return
        self._emit("failed", copy.path, why)

    def _note_repaired(self, path: Path) -> None:
        why = self._damaged.pop(path, None)
        if why is not None:
            self._emit("repaired", path, f"rewritten from a sound copy after: {why}")

    def _keep_sync_count(self) -> None:
        """Promote lagging copies (outside a transaction) until enough copies are in sync."""
        while len(self._sync) + 1 < self._want_sync and self._lagging and not self._in_transaction:
            with self._lagging_lock:
                copy = self._lagging.pop(0)
            if self._refused(copy):
                self._emit("failed", copy.path, "its member is no longer in the array")
                continue
            try:
                copy_database(self.conn, copy.path)
                copy.connect()
            except (OSError, sqlite3.Error) as exc:
                self._emit("failed", copy.path, f"could not be promoted: {exc}")
                continue
            self._note_repaired(copy.path)
            self._sync.append(copy)
            self._emit("promoted", copy.path, "now kept in sync")

    def _emit(self, kind: str, path: Path, detail: str) -> None:
        log.warning("%s database copy %s: %s (%s)", self.name, kind, path, detail)
        if self._events is not None:
            self._events(DBEvent(kind, self.name, path, detail))

