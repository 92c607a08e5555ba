"""The copies of each metadata database on the members: generation, identity, health.

Read-only: a copy is opened with SQLite's `mode=ro`, so looking never repairs, checkpoints
or replaces anything (the daemon's open would silently repair stale copies; here the
administrator sees them first).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nasfs.db import checksums

log = logging.getLogger(__name__)

# Every replicated database a member carries, in the order they are shown.
DATABASES = ("store", "fs", "policy", "audit")


@dataclass(frozen=True)
class CopyInfo:
    """One copy of one database on one member."""

    database: str
    slot: int
    path: Path
    exists: bool
    generation: int | None  # None: missing, unreadable or corrupt
    identity: str | None
    problem: str  # "" when healthy and current

    @property
    def usable(self) -> bool:
        """Healthy and of this array (it may still be older than the newest copy)."""
        return self.generation is not None and not self.problem.startswith(
            ("corrupt", "unreadable", "missing", "belongs", "has no"))


def db_path(member: Path, database: str) -> Path:
    return member / "nasfs" / "db" / f"{database}.db"


def open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the copy (SQLITE_OPEN_READONLY via the URI), whose
    every page read is checked against its checksum (nasfs.db.checksums)."""
    conn = checksums.connect(path, readonly=True)
    conn.row_factory = sqlite3.Row
    return conn


def _inspect(database: str, slot: int, path: Path, identity: str | None) -> CopyInfo:
    if not path.exists():
        return CopyInfo(database, slot, path, False, None, None, "missing")
    if not checksums.has_checksums(path):
        return CopyInfo(database, slot, path, True, None, None,
                        "corrupt (no page checksums: damaged, or from an older format)")
    problems = checksums.file_problems(path)
    if problems:
        return CopyInfo(database, slot, path, True, None, None,
                        f"corrupt ({'; '.join(problems[:3])})")
    try:
        conn = open_read_only(path)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
            if rows != ["ok"]:
                return CopyInfo(database, slot, path, True, None, None,
                                f"corrupt ({'; '.join(rows)})")
            row = conn.execute("SELECT generation, identity FROM _replica WHERE id = 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        state = "corrupt" if checksums.is_damage(exc) else "unreadable"
        return CopyInfo(database, slot, path, True, None, None,
                        f"{state} ({checksums.describe(exc)})")
    if row is None:
        return CopyInfo(database, slot, path, True, None, None, "has no generation record")
    generation, ident = int(row[0]), str(row[1])
    if identity is not None and ident != identity:
        return CopyInfo(database, slot, path, True, generation, ident,
                        f"belongs to another volume ({ident})")
    return CopyInfo(database, slot, path, True, generation, ident, "")


def survey_copies(present: Mapping[int, Path], identity: str | None
                  ) -> dict[str, list[CopyInfo]]:
    """Every copy of every database on the present members, stale ones marked as such."""
    result: dict[str, list[CopyInfo]] = {}
    for database in DATABASES:
        copies = [_inspect(database, slot, db_path(present[slot], database), identity)
                  for slot in sorted(present)]
        newest = max((c.generation for c in copies if c.usable and c.generation is not None),
                     default=None)
        marked = []
        for c in copies:
            if c.usable and newest is not None and c.generation != newest:
                c = CopyInfo(c.database, c.slot, c.path, c.exists, c.generation, c.identity,
                             f"stale (generation {c.generation}, newest {newest})")
            marked.append(c)
        result[database] = marked
    return result


def best_copy(copies: list[CopyInfo]) -> CopyInfo | None:
    """The copy the daemon would pick as the source: the newest healthy one of this array."""
    usable = [c for c in copies if c.usable]
    return max(usable, key=lambda c: c.generation or 0) if usable else None


def never_created(copies: list[CopyInfo]) -> bool:
    """No member has a copy at all (the database was never created on this array)."""
    return not any(c.exists for c in copies)
