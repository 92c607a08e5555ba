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
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from nasfs.db import checksums
from nasfs.errors import NasfsError

log = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any]

# SQLite primary result codes that mean "this copy's storage is broken", as opposed to
# an error in the statement. SQLITE_FULL is deliberately absent: a full disk must fail the
# operation, not silently shrink the set of copies.
_STORAGE_ERRORS = frozenset(
    {
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
    }
)


class MetadataLostError(NasfsError):
    """No usable copy of a metadata database is left."""


@dataclass(frozen=True)
class DBEvent:
    """Something that happened to one copy: created, repaired, failed, promoted."""

    kind: str
    database: str
    path: Path
    detail: str


EventSink = Callable[[DBEvent], None]
# "May the copy at this path still be written?" The store answers it: only inside a member
# that is still the one assembled (a vanished disk's path must never get a new copy).
CopyGuard = Callable[[Path], bool]


@dataclass
class _Copy:
    path: Path
    conn: sqlite3.Connection | None = None
    inode: int = 0
    wal_fd: int = -1

    def connect(self) -> sqlite3.Connection:
        conn = checksums.connect(self.path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: commits do not fsync; commit(durable=True) fsyncs the WAL itself, which
        # gives FULL's guarantee exactly where the caller asks for it.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self.inode = os.stat(self.path).st_ino
        return conn

    def close(self) -> None:
        if self.wal_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.wal_fd)
            self.wal_fd = -1
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

    def still_there(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def fsync_wal(self) -> None:
        wal = Path(f"{self.path}-wal")
        if self.wal_fd >= 0 and os.fstat(self.wal_fd).st_ino != _inode_or_zero(wal):
            os.close(self.wal_fd)
            self.wal_fd = -1
        if self.wal_fd < 0:
            try:
                self.wal_fd = os.open(wal, os.O_RDONLY)
            except FileNotFoundError:
                return  # nothing written in WAL mode yet: the commit went to the main file
        os.fsync(self.wal_fd)


def _inode_or_zero(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_storage_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
        )
    return (code & 0xFF) in _STORAGE_ERRORS


@dataclass(frozen=True)
class _Inspection:
    path: Path
    generation: int | None  # None: missing, damaged or foreign
    identity: str | None
    problem: str
    # Sound, but from before page checksums: its generation (it can be upgraded in place).
    older_generation: int | None = None


def _read_replica_row(conn: sqlite3.Connection) -> tuple[int, str] | None:
    row = conn.execute("SELECT generation, identity FROM _replica WHERE id = 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _inspect(path: Path) -> _Inspection:
    if not path.exists():
        return _Inspection(path, None, None, "missing")
    try:
        older = path.stat().st_size > 0 and not checksums.has_checksums(path)
    except OSError as exc:
        return _Inspection(path, None, None, f"unreadable ({exc})")
    if older:
        return _inspect_older_format(path)
    problems = checksums.verify(path, thorough=False)
    if problems:
        return _Inspection(path, None, None, f"damaged ({'; '.join(problems[:3])})")
    try:
        conn = checksums.connect(path)
        try:
            row = _read_replica_row(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return _Inspection(path, None, None, f"unreadable ({checksums.describe(exc)})")
    if row is None:
        return _Inspection(path, None, None, "has no generation record")
    return _Inspection(path, row[0], row[1], "")


def _inspect_older_format(path: Path) -> _Inspection:
    """A copy without page checksums: checked as well as SQLite can, never a source while
    a checksummed copy exists (its damage could not be told)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            row = _read_replica_row(conn) if check == "ok" else None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return _Inspection(path, None, None, f"unreadable ({exc})")
    if check != "ok":
        return _Inspection(path, None, None, f"damaged ({check})")
    if row is None:
        return _Inspection(path, None, None, "has no generation record")
    return _Inspection(path, None, row[1], "has no page checksums (older format)",
                       older_generation=row[0])


class DamagedCopyError(sqlite3.DatabaseError):
    """A copy just written does not verify (its bytes changed on the way to the disk)."""


def copy_database(source: sqlite3.Connection, target: Path) -> None:
    """Replace `target` with a consistent copy of `source`, atomically and durably."""
    tmp = target.with_name(target.name + ".copying")
    tmp.unlink(missing_ok=True)
    # Through the checksum VFS on both sides: every source page read is verified (a damaged
    # source fails the copy before anything is replaced) and every page written is stamped.
    dest = checksums.connect(tmp)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=WAL")
        # Fold the WAL into the file so the copy is one self-contained file.
        dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        dest.close()
    for leftover in (Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    problems = checksums.file_problems(tmp)
    if problems:
        tmp.unlink(missing_ok=True)
        raise DamagedCopyError(f"the new copy {target} does not verify: {'; '.join(problems[:3])}")
    checksums.replace_durably(tmp, target)


class ReplicatedDB:
    """A SQLite database kept identical on several directories (see module docstring)."""

    def __init__(
        self,
        name: str,
        primary: _Copy,
        sync: list[_Copy],
        lagging: list[_Copy],
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
        Raises MetadataLostError when copies exist but none is usable.
        """
        if copy_ok is not None:
            dirs = [d for d in dirs if copy_ok(Path(d) / f"{name}.db")]
        if not dirs:
            raise MetadataLostError(f"no directory to hold the {name} database")
        paths = []
        for d in dirs:
            Path(d).mkdir(parents=copy_ok is None, exist_ok=True)
            paths.append(Path(d) / f"{name}.db")
        found = [_inspect(p) for p in paths]

        def emit(kind: str, path: Path, detail: str) -> None:
            log.log(logging.INFO if kind in ("created", "upgraded") else logging.WARNING,
                    "%s database %s: %s (%s)", name, kind, path, detail)
            if events is not None:
                events(DBEvent(kind, name, path, detail))

        found = cls._upgrade_older_format(found, identity, emit)

        usable = [f for f in found if f.generation is not None]
        if identity is not None:
            foreign = [f for f in usable if f.identity != identity]
            usable = [f for f in usable if f.identity == identity]
        else:
            foreign = []
            if usable:
                # Without an expected identity, the newest copy's identity defines the set.
                newest = max(usable, key=lambda f: f.generation or 0)
                foreign = [f for f in usable if f.identity != newest.identity]
                usable = [f for f in usable if f.identity == newest.identity]

        if usable:
            best = max(usable, key=lambda f: f.generation or 0)
            ident = best.identity or ""
        else:
            damaged = [f for f in found if f.problem not in ("missing",)]
            if damaged and not foreign:
                raise MetadataLostError(
                    f"every copy of the {name} database is damaged: "
                    + "; ".join(f"{f.path}: {f.problem}" for f in damaged)
                )
            best = None
            ident = identity or uuid.uuid4().hex

        order = [best.path] + [p for p in paths if p != best.path] if best else list(paths)
        primary = _Copy(order[0])
        conn = primary.connect() if best else cls._create(primary, ident)
        sdb = sqlite_utils.Database(conn)
        sets = [migrations] if isinstance(migrations, Migrations) else list(migrations)
        if any(m.pending(sdb) for m in sets):
            for m in sets:
                m.apply(sdb)
            # A schema change is a change like any other: copies must see they are behind.
            conn.execute("UPDATE _replica SET generation = generation + 1 WHERE id = 1")
        if best is None:
            emit("created", primary.path, "new database")

        by_path = {f.path: f for f in found}
        best_gen = conn.execute("SELECT generation FROM _replica WHERE id = 1").fetchone()[0]
        copies: list[_Copy] = []
        for path in order[1:]:
            info = by_path[path]
            if info in foreign:
                problem = f"belongs to another volume ({info.identity})"
            elif info.generation is None:
                problem = info.problem
            elif info.generation != best_gen:
                problem = f"stale (generation {info.generation}, newest {best_gen})"
            else:
                problem = ""
            if problem:
                copy_database(conn, path)
                emit("created" if problem == "missing" else "repaired", path, problem)
            copies.append(_Copy(path))

        want = max(1, min(sync_copies, len(paths)))
        sync = copies[: want - 1]
        for c in sync:
            c.connect()
        return cls(name, primary, sync, copies[want - 1 :], want, ident, events, copy_ok)

    @staticmethod
    def _upgrade_older_format(found: list[_Inspection], identity: str | None,
                              emit: Callable[[str, Path, str], None]) -> list[_Inspection]:
        """Copies from before page checksums: when no copy has checksums yet, the newest
        sound one (of this volume) gets them in place and becomes the source of the others.
        While any checksummed copy exists, older-format copies are only ever replaced: a
        damaged header byte must not pass for an older format."""
        if any(f.generation is not None for f in found):
            return found
        older = [f for f in found if f.older_generation is not None
                 and (identity is None or f.identity == identity)]
        if not older:
            return found
        best = max(older, key=lambda f: f.older_generation or 0)
        checksums.add_checksums(best.path)
        emit("upgraded", best.path, "page checksums added (older format)")
        return [_inspect(f.path) if f is best else f for f in found]

    @staticmethod
    def _create(primary: _Copy, identity: str) -> sqlite3.Connection:
        primary.path.unlink(missing_ok=True)
        for stale in (Path(f"{primary.path}-wal"), Path(f"{primary.path}-shm")):
            stale.unlink(missing_ok=True)
        checksums.create(primary.path)
        conn = primary.connect()
        conn.execute(
            "CREATE TABLE _replica ("
            " id INTEGER PRIMARY KEY CHECK (id = 1),"  # a single row
            " generation INTEGER NOT NULL,"  # bumped by every commit; newest copy wins
            " identity TEXT NOT NULL)"  # which volume this database belongs to
        )
        conn.execute("INSERT INTO _replica VALUES (1, 0, ?)", (identity,))
        _fsync_dir(primary.path.parent)
        return conn

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

    def _run_on_replica(self, copy: _Copy, op: Callable[[sqlite3.Connection], Any]) -> None:
        assert copy.conn is not None
        try:
            op(copy.conn)
        except sqlite3.Error as exc:
            # The primary accepted the statement, so any error here means this copy diverged
            # or its disk failed: either way it can no longer be trusted.
            self._drop(copy, checksums.describe(exc), damaged=checksums.is_damage(exc))

    def _refused(self, copy: _Copy) -> bool:
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

    def _drop(self, copy: _Copy, why: str, *, damaged: bool = False) -> None:
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
