"""Opening a replicated database: inspect every copy, pick the newest sound one, upgrade
or create, migrate, and repair the copies that are missing, stale, damaged or foreign
(see nasfs.db.replicated for the rules the running database keeps)."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from nasfs.db import checksums
from nasfs.db.copy import DatabaseCopy, copy_database
from nasfs.db.events import CopyGuard, DBEvent, EventSink, MetadataLostError
from nasfs.durable import fsync_dir

log = logging.getLogger("nasfs.db.replicated")


@dataclass(frozen=True)
class Inspection:
    path: Path
    generation: int | None  # None: missing, damaged or foreign
    identity: str | None
    problem: str
    # Sound, but from before page checksums: its generation (it can be upgraded in place).
    older_generation: int | None = None


def read_replica_row(conn: sqlite3.Connection) -> tuple[int, str] | None:
    row = conn.execute("SELECT generation, identity FROM _replica WHERE id = 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def inspect(path: Path) -> Inspection:
    if not path.exists():
        return Inspection(path, None, None, "missing")
    try:
        older = path.stat().st_size > 0 and not checksums.has_checksums(path)
    except OSError as exc:
        return Inspection(path, None, None, f"unreadable ({exc})")
    if older:
        return inspect_older_format(path)
    problems = checksums.verify(path, thorough=False)
    if problems:
        return Inspection(path, None, None, f"damaged ({'; '.join(problems[:3])})")
    try:
        conn = checksums.connect(path)
        try:
            row = read_replica_row(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Inspection(path, None, None, f"unreadable ({checksums.describe(exc)})")
    if row is None:
        return Inspection(path, None, None, "has no generation record")
    return Inspection(path, row[0], row[1], "")


def inspect_older_format(path: Path) -> Inspection:
    """A copy without page checksums: checked as well as SQLite can, never a source while
    a checksummed copy exists (its damage could not be told)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            row = read_replica_row(conn) if check == "ok" else None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Inspection(path, None, None, f"unreadable ({exc})")
    if check != "ok":
        return Inspection(path, None, None, f"damaged ({check})")
    if row is None:
        return Inspection(path, None, None, "has no generation record")
    return Inspection(path, None, row[1], "has no page checksums (older format)",
                       older_generation=row[0])



@dataclass
class OpenedCopies:
    """The copies of a database just opened, in the roles the running database gives them."""

    primary: DatabaseCopy
    sync: list[DatabaseCopy]
    lagging: list[DatabaseCopy]
    sync_copies: int
    identity: str



def open_copies(
    name: str,
    dirs: Sequence[Path],
    *,
    sync_copies: int,
    migrations: Migrations | Sequence[Migrations],
    identity: str | None = None,
    events: EventSink | None = None,
    copy_ok: CopyGuard | None = None,
) -> OpenedCopies:
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
    found = [inspect(p) for p in paths]

    def emit(kind: str, path: Path, detail: str) -> None:
        log.log(logging.INFO if kind in ("created", "upgraded") else logging.WARNING,
                "%s database %s: %s (%s)", name, kind, path, detail)
        if events is not None:
            events(DBEvent(kind, name, path, detail))

    found = _upgrade_older_format(found, identity, emit)

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
    primary = DatabaseCopy(order[0])
    conn = primary.connect() if best else _create(primary, ident)
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
    copies: list[DatabaseCopy] = []
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
        copies.append(DatabaseCopy(path))

    want = max(1, min(sync_copies, len(paths)))
    sync = copies[: want - 1]
    for c in sync:
        c.connect()
    return OpenedCopies(primary, sync, copies[want - 1 :], want, ident)

def _upgrade_older_format(found: list[Inspection], identity: str | None,
                          emit: Callable[[str, Path, str], None]) -> list[Inspection]:
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
    return [inspect(f.path) if f is best else f for f in found]

def _create(primary: DatabaseCopy, identity: str) -> sqlite3.Connection:
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
    fsync_dir(primary.path.parent)
    return conn
