"""Promotion of a lagging copy off the owner's thread (nasfs.daemon.promotion): the copy is
made by refresh_lagging, and joins the synchronous set only if it holds the last commit."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlite_utils.migrations import Migrations

from nasfs.daemon.promotion import promote
from nasfs.db import DBEvent, ReplicatedDB

MIGRATIONS = Migrations("test")


@MIGRATIONS()
def m001_items(db) -> None:  # type: ignore[no-untyped-def]
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")


def _open(tmp_path: Path, events: list[DBEvent]) -> tuple[ReplicatedDB, list[Path]]:
    dirs = [tmp_path / f"m{i}" / "nasfs" / "db" for i in range(4)]
    db = ReplicatedDB.open("meta", dirs, sync_copies=2, migrations=MIGRATIONS,
                           events=events.append)
    db.promote_in_commit = False
    return db, dirs


def _add(db: ReplicatedDB, name: str) -> None:
    db.execute("INSERT INTO item (name) VALUES (?)", (name,))
    db.commit(durable=True)


def _names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM item ORDER BY id")]
    finally:
        conn.close()


def _lose_the_synchronous_copy(db: ReplicatedDB, dirs: list[Path]) -> None:
    synchronous = db.copies()[1]
    shutil.rmtree(synchronous.parent.parent)  # its member is emptied


def test_a_commit_no_longer_promotes_and_a_stale_copy_never_joins(tmp_path: Path) -> None:
    events: list[DBEvent] = []
    db, dirs = _open(tmp_path, events)
    _add(db, "a")
    _lose_the_synchronous_copy(db, dirs)
    _add(db, "b")
    assert [e.kind for e in events].count("failed") == 1
    assert "promoted" not in [e.kind for e in events]
    assert db.sync_short
    assert db.join_current_lagging() == 0  # the lagging copies do not hold 'b'
    db.refresh_lagging()
    _add(db, "c")  # committed after the refresh copied: the copies are behind again
    assert db.join_current_lagging() == 0
    assert db.sync_short
    db.refresh_lagging()
    assert db.join_current_lagging() == 1
    assert not db.sync_short
    assert [e.kind for e in events].count("promoted") == 1
    promoted = db.copies()[1]
    _add(db, "d")
    assert _names(promoted) == ["a", "b", "c", "d"]  # synchronous: without a refresh
    db.close()
    for path in db.copies():
        assert _names(path) == ["a", "b", "c", "d"]


async def test_the_daemon_round_restores_the_synchronous_count(tmp_path: Path) -> None:
    events: list[DBEvent] = []
    db, dirs = _open(tmp_path, events)
    _add(db, "a")
    _lose_the_synchronous_copy(db, dirs)
    _add(db, "b")
    assert db.sync_short
    await promote(db, lambda: db)
    assert not db.sync_short
    _add(db, "c")
    assert _names(db.copies()[1]) == ["a", "b", "c"]
    db.close()
