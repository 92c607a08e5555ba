"""The roles of a replicated database's copies and how copies change role: the primary,
the synchronous copies and the lagging ones; dropping a failed copy, setting aside a full
one, promoting lagging copies back to synchronous, refreshing and repairing them.

ReplicatedDB (nasfs.db.replicated) builds on it with the statement and commit path; the
rules both keep are in that module's docstring.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from nasfs.db import checksums
from nasfs.db.copy import DamagedCopyError, DatabaseCopy, copy_database
from nasfs.db.events import AbortListener, CopyGuard, DBEvent, EventSink, MetadataLostError

log = logging.getLogger("nasfs.db.replicated")

# Seconds before a copy set aside for a full disk is tried again as a synchronous copy.
FULL_RETRY_S = 60.0


def is_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full"."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) == sqlite3.SQLITE_FULL


def no_space(exc: BaseException) -> bool:
    return is_full(exc) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)


class CopyRoles:
    """Which copy is primary, which are synchronous, which lag (see module docstring)."""

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
        # Copies set aside because their disk was full, and when (time.monotonic()): they
        # wait among the lagging copies, and a promotion retries them after FULL_RETRY_S.
        self._full_at: dict[Path, float] = {}
        # Told when a transaction could be written on no copy and was rolled back.
        self.abort_listeners: list[AbortListener] = []
        # The open transaction's copies in their roles at its start, and the copies that
        # stepped aside in it for a full disk (with why): see ReplicatedDB._step_aside.
        self._txn_copies: list[DatabaseCopy] = []
        self._aside: list[tuple[DatabaseCopy, str]] = []
        # Counts every write statement and rollback: while it stays the same, nothing read
        # from the database has changed, so readers may keep what they derived from it.
        self.changes = 0
        # Counts rollbacks alone: readers that follow the writes they depend on themselves
        # still need to know when all of them were undone at once.
        self.rollbacks = 0
        # Of `changes`, the statements commits make themselves (the copies' generation):
        # they change no row the callers read.
        self.commit_writes = 0

    @property
    def conn(self) -> sqlite3.Connection:
        """The primary connection, for reads only (writes must go through `execute`)."""
        assert self._primary.conn is not None
        return self._primary.conn

    def copies(self) -> list[Path]:
        """Paths of every copy in use: primary, synchronous, lagging."""
        return [c.path for c in (self._primary, *self._sync, *self._lagging)]

    def refresh_lagging(self) -> None:
        """Bring every lagging copy up to the last committed state (run in a worker thread).

        A copy whose disk was found full less than FULL_RETRY_S ago waits: every attempt
        would fill what is left of that disk with a copy that cannot be finished."""
        self._drop_refused_lagging()
        with self._lagging_lock:
            targets = [c for c in self._lagging if not self._waiting_for_room(c)]
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
                        if no_space(exc):
                            self._full_at[copy.path] = time.monotonic()
                        log.warning("%s: could not refresh copy %s: %s", self.name, copy.path, exc)
                        continue
                    self._note_repaired(copy.path)
            finally:
                reader.close()

    # ------------------------------------------------------------------ scrub

    def verify_copies(self) -> dict[Path, list[str]]:
        """Verify every copy in use, whole (see checksums.verify); the problems of each.
        Copies on members the guard refuses (failed or replaced) are left out.

        Safe from any thread (own connections; refreshes wait meanwhile). Changes nothing:
        `repair_copies` (the owner's thread) acts on the result.
        """
        found: dict[Path, list[str]] = {}
        for path in self.copies():
            if self._copy_ok is not None and not self._copy_ok(path):
                # On a member failed since (a disk that died under the scrub): not damage
                # to repair, and unreadable; the rebuild puts a fresh copy there.
                continue
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
        if self._full_at.pop(path, None) is not None:
            self._emit("repaired", path, "brought up to date now that its disk has room")

    def _set_aside_full(self, copy: DatabaseCopy, why: str) -> None:
        """A copy whose disk is full leaves the synchronous set (a primary hands over to the
        next synchronous copy) and waits among the lagging copies, as it was at its last
        commit: the next refresh rewrites it once its disk has room, a promotion retries
        it after FULL_RETRY_S. Reported as "full", so a full disk never silently costs the
        array a copy of its metadata."""
        if copy.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                copy.conn.execute("ROLLBACK")
        copy.close()
        if copy is self._primary:
            self._primary = self._sync.pop(0)
            self._primary_damage = None
            self._emit("promoted", self._primary.path, f"became primary after: {why}")
        elif copy in self._sync:
            self._sync.remove(copy)
        self._full_at[copy.path] = time.monotonic()
        with self._lagging_lock:
            if copy not in self._lagging:
                self._lagging.append(copy)
        self._emit("full", copy.path, f"{why}: its disk is full; this copy stays at its last "
                   "commit and is brought up to date once the disk has room")

    def _waiting_for_room(self, copy: DatabaseCopy) -> bool:
        """Its disk was found full less than FULL_RETRY_S ago."""
        full_at = self._full_at.get(copy.path)
        return full_at is not None and time.monotonic() - full_at < FULL_RETRY_S

    def _keep_sync_count(self) -> None:
        """Promote lagging copies (outside a transaction) until enough copies are in sync.

        A copy set aside for a full disk is tried again only FULL_RETRY_S after its disk
        was last found full (a promotion copies the whole database)."""
        tries = len(self._lagging)
        while (len(self._sync) + 1 < self._want_sync and self._lagging and tries > 0
               and not self._in_transaction):
            tries -= 1
            with self._lagging_lock:
                copy = self._lagging.pop(0)
            if self._refused(copy):
                self._full_at.pop(copy.path, None)
                self._emit("failed", copy.path, "its member is no longer in the array")
                continue
            if self._waiting_for_room(copy):
                with self._lagging_lock:
                    self._lagging.append(copy)
                continue
            try:
                copy_database(self.conn, copy.path)
                copy.connect()
            except (OSError, sqlite3.Error) as exc:
                if no_space(exc):
                    self._full_at[copy.path] = time.monotonic()
                    with self._lagging_lock:
                        self._lagging.append(copy)
                    log.warning("%s: copy %s still has no room: %s", self.name, copy.path, exc)
                    continue
                self._full_at.pop(copy.path, None)
                self._emit("failed", copy.path, f"could not be promoted: {exc}")
                continue
            self._note_repaired(copy.path)
            self._sync.append(copy)
            self._emit("promoted", copy.path, "now kept in sync")

    def _emit(self, kind: str, path: Path, detail: str) -> None:
        log.warning("%s database copy %s: %s (%s)", self.name, kind, path, detail)
        if self._events is not None:
            self._events(DBEvent(kind, self.name, path, detail))
