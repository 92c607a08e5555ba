"""A replicated database on disks that fill up: one full disk costs a reported copy, never
the write; all disks full fails the write as a whole and changes nothing.

Each copy sits on its own small real tmpfs, filled to the last byte by a filler file, so
SQLite really answers "database or disk is full".
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils.migrations import Migrations

from nasfs.db import DBEvent, ReplicatedDB, roles
from nasfs.db.events import WriteFailed
from tests.space_util import fill_disk, tmpfs_members

MIGRATIONS = Migrations("test")


@MIGRATIONS()
def m001_items(db) -> None:  # type: ignore[no-untyped-def]
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[list[Path]]:
    with tmpfs_members(tmp_path, [8, 8, 8]) as members:
        yield members


def _open(disks: list[Path], events: list[DBEvent]) -> ReplicatedDB:
    return ReplicatedDB.open("meta", [d / "db" for d in disks], sync_copies=3,
                             migrations=MIGRATIONS, events=events.append)


def _write_big(db: ReplicatedDB, rows: int = 150) -> None:
    """One transaction needing far more room than a full disk has (its WAL must grow)."""
    for _ in range(rows):
        db.execute("INSERT INTO item (body) VALUES (?)", (os.urandom(16 << 10),))
    db.commit(durable=True)


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM item").fetchone()[0])
    finally:
        conn.close()


def test_one_full_disk_costs_a_reported_copy_not_the_write(
        disks: list[Path], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    events: list[DBEvent] = []
    db = _open(disks, events)
    db.execute("INSERT INTO item (body) VALUES (x'00')")
    db.commit(durable=True)
    full_copy = disks[1] / "db" / "meta.db"
    filler = fill_disk(disks[1])
    _write_big(db)
    assert db.query_one("SELECT count(*) FROM item")[0] == 151  # type: ignore[index]
    assert [e.path for e in events if e.kind == "full"] == [full_copy]
    assert "disk is full" in next(e.detail for e in events if e.kind == "full")
    assert not [e for e in events if e.kind == "failed"], "a full copy is not a failed one"
    assert full_copy in db.copies(), "the full copy waits among the lagging ones"
    assert _count(full_copy) == 1, "the full copy stays at its last commit"
    # Waiting for room: a refresh does not try it (it would fill the disk's last bytes).
    caplog.clear()
    db.refresh_lagging()
    assert _count(full_copy) == 1
    assert "could not refresh" not in caplog.text, "it was tried on the full disk"
    # Room again, and the wait over: the next refresh brings it up to date, said so.
    filler.unlink()
    monkeypatch.setattr(roles, "FULL_RETRY_S", 0.0)
    db.refresh_lagging()
    assert _count(full_copy) == 151
    assert any(e.kind == "repaired" and e.path == full_copy for e in events)
    # And a promotion takes it back among the synchronous copies.
    db.execute("INSERT INTO item (body) VALUES (x'01')")
    db.commit(durable=True)
    assert _count(full_copy) == 152
    db.close()


def test_a_full_primary_hands_over_and_the_write_stands(disks: list[Path]) -> None:
    events: list[DBEvent] = []
    db = _open(disks, events)
    db.execute("INSERT INTO item (body) VALUES (x'00')")
    db.commit(durable=True)
    primary = db.copies()[0]
    filler = fill_disk(primary.parent.parent)
    _write_big(db)
    assert db.copies()[0] != primary
    assert any(e.kind == "full" and e.path == primary for e in events)
    assert any(e.kind == "promoted" for e in events)
    db.close()
    filler.unlink()
    db = _open(disks, [])
    assert db.query_one("SELECT count(*) FROM item")[0] == 151  # type: ignore[index]
    db.close()
    for d in disks:
        assert _count(d / "db" / "meta.db") == 151


def test_every_disk_full_fails_the_write_and_changes_nothing(disks: list[Path]) -> None:
    events: list[DBEvent] = []
    db = _open(disks, events)
    db.execute("INSERT INTO item (body) VALUES (x'00')")
    db.commit(durable=True)
    copies = db.copies()
    told: list[WriteFailed] = []
    db.abort_listeners.append(told.append)
    fillers = [fill_disk(d) for d in disks]
    with pytest.raises(WriteFailed) as caught:
        _write_big(db)
    assert caught.value.errno == errno.ENOSPC and caught.value.no_space
    assert isinstance(caught.value, sqlite3.OperationalError)  # owners catching SQLite's
    assert told == [caught.value]
    assert not db.in_transaction
    assert db.copies() == copies, "no copy was dropped or set aside: none took the write"
    assert not [e for e in events if e.kind in ("full", "failed", "promoted")]
    assert db.query_one("SELECT count(*) FROM item")[0] == 1  # type: ignore[index]
    # Room again: the same database goes on, on every copy.
    for f in fillers:
        f.unlink()
    db.execute("INSERT INTO item (body) VALUES (x'02')")
    db.commit(durable=True)
    db.close()
    for d in disks:
        assert _count(d / "db" / "meta.db") == 2
