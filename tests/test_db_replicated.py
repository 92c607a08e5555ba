"""The replicated metadata database: copies, generations, repair, loss of copies."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlite_utils.migrations import Migrations

from nasfs.db import DBEvent, MetadataLostError, ReplicatedDB

MIGRATIONS = Migrations("test")


@MIGRATIONS()
def m001_items(db) -> None:  # type: ignore[no-untyped-def]
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")


def _dirs(tmp_path: Path, n: int = 4) -> list[Path]:
    return [tmp_path / f"m{i}" / "nasfs" / "db" for i in range(n)]


def _open(dirs: list[Path], events: list[DBEvent] | None = None, sync: int = 2) -> ReplicatedDB:
    return ReplicatedDB.open(
        "meta",
        dirs,
        sync_copies=sync,
        migrations=MIGRATIONS,
        events=None if events is None else events.append,
    )


def _names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM item ORDER BY id")]
    finally:
        conn.close()


def _generation(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT generation FROM _replica").fetchone()[0])
    finally:
        conn.close()


def test_new_database_has_a_copy_everywhere(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    events: list[DBEvent] = []
    db = _open(dirs, events)
    db.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    db.commit(durable=True)
    db.close()
    for d in dirs:
        assert _names(d / "meta.db") == ["a"]
    assert {e.kind for e in events} == {"created"}


def test_sync_copies_see_every_commit_without_close(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    db = _open(dirs, sync=2)
    db.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    db.commit(durable=True)
    primary, replica = db.copies()[:2]
    assert _names(primary) == ["a"]
    assert _names(replica) == ["a"]
    db.close()


def test_rollback_undoes_on_every_copy(tmp_path: Path) -> None:
    db = _open(_dirs(tmp_path))
    db.execute("INSERT INTO item (name) VALUES ('a')")
    db.commit()
    db.execute("INSERT INTO item (name) VALUES ('b')")
    db.rollback()
    paths = db.copies()
    db.close()
    for p in paths:
        assert _names(p) == ["a"]


def test_constraint_error_reaches_caller_and_keeps_copies(tmp_path: Path) -> None:
    events: list[DBEvent] = []
    db = _open(_dirs(tmp_path), events)
    db.execute("INSERT INTO item (name) VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO item (name) VALUES ('a')")
    db.commit(durable=True)
    assert not [e for e in events if e.kind == "failed"]
    assert len(db.copies()) == 4
    db.close()


def test_stale_copy_is_repaired_at_open(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    db = _open(dirs)
    db.execute("INSERT INTO item (name) VALUES ('a')")
    db.close()
    # Keep an old copy aside, move on, then put the old copy back (a disk that was away).
    stale = tmp_path / "stale.db"
    shutil.copy(dirs[3] / "meta.db", stale)
    db = _open(dirs)
    db.execute("INSERT INTO item (name) VALUES ('b')")
    db.close()
    shutil.copy(stale, dirs[3] / "meta.db")
    events: list[DBEvent] = []
    db = _open(dirs, events)
    assert [r["name"] for r in db.query("SELECT name FROM item ORDER BY id")] == ["a", "b"]
    db.close()
    assert [e.kind for e in events] == ["repaired"]
    assert "stale" in events[0].detail
    assert _names(dirs[3] / "meta.db") == ["a", "b"]


def test_newest_copy_wins_even_if_it_is_not_first(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    db = _open(dirs)
    db.execute("INSERT INTO item (name) VALUES ('a')")
    db.close()
    old = tmp_path / "old.db"
    shutil.copy(dirs[0] / "meta.db", old)
    db = _open(dirs)
    db.execute("INSERT INTO item (name) VALUES ('b')")
    db.close()
    shutil.copy(old, dirs[0] / "meta.db")  # the first directory now holds an old copy
    db = _open(dirs)
    assert [r["name"] for r in db.query("SELECT name FROM item ORDER BY id")] == ["a", "b"]
    db.close()


def test_corrupt_copy_is_repaired(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    db = _open(dirs)
    db.executemany("INSERT INTO item (name) VALUES (?)", [(f"n{i}",) for i in range(500)])
    db.close()
    target = dirs[1] / "meta.db"
    data = bytearray(target.read_bytes())
    data[100:4000] = os.urandom(3900)  # header and first pages
    target.write_bytes(bytes(data))
    events: list[DBEvent] = []
    db = _open(dirs, events)
    db.close()
    assert [e.kind for e in events] == ["repaired"]
    assert len(_names(target)) == 500


def test_every_copy_damaged_is_refused(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path, 3)
    db = _open(dirs)
    db.close()
    for d in dirs:
        (d / "meta.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(MetadataLostError, match="every copy"):
        _open(dirs)


def test_lost_primary_while_running_promotes_a_replica(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    events: list[DBEvent] = []
    db = _open(dirs, events)
    db.execute("INSERT INTO item (name) VALUES ('a')")
    db.commit(durable=True)
    shutil.rmtree(dirs[0].parent.parent)  # the member holding the primary is emptied
    db.execute("INSERT INTO item (name) VALUES ('b')")
    db.commit(durable=True)
    kinds = [e.kind for e in events]
    assert "failed" in kinds and "promoted" in kinds
    remaining = db.copies()
    assert dirs[0] / "meta.db" not in remaining
    db.close()
    for p in remaining:
        assert _names(p) == ["a", "b"]


def test_durable_commit_survives_kill(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_db_replicated import _open
        from pathlib import Path
        dirs = [Path(p) for p in {[str(d) for d in dirs]!r}]
        db = _open(dirs)
        db.execute("INSERT INTO item (name) VALUES ('durable')")
        db.commit(durable=True)
        db.execute("INSERT INTO item (name) VALUES ('unsynced')")
        os.kill(os.getpid(), 9)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    # The primary's member is lost too: the synchronous replica alone must carry the commit.
    shutil.rmtree(dirs[0].parent.parent)
    db = _open(dirs[1:])
    assert [r["name"] for r in db.query("SELECT name FROM item")] == ["durable"]
    db.close()


def test_generation_grows_with_commits(tmp_path: Path) -> None:
    db = _open(_dirs(tmp_path))
    g0 = db.generation
    db.execute("INSERT INTO item (name) VALUES ('a')")
    db.commit()
    assert db.generation == g0 + 1
    path = db.copies()[0]
    db.close()
    assert _generation(path) == g0 + 1


def test_several_migration_sets_share_one_database(tmp_path: Path) -> None:
    other = Migrations("other-layer")

    @other()
    def m001_things(db) -> None:  # type: ignore[no-untyped-def]
        db.execute("CREATE TABLE thing (id INTEGER PRIMARY KEY)")

    dirs = _dirs(tmp_path)
    db = ReplicatedDB.open("meta", dirs, sync_copies=2, migrations=[MIGRATIONS, other])
    db.execute("INSERT INTO thing DEFAULT VALUES")
    db.execute("INSERT INTO item (name) VALUES ('a')")
    db.close()
    for d in dirs:
        assert _names(d / "meta.db") == ["a"]


def _older_format_copy(path: Path, generation: int, names: list[str]) -> None:
    """A copy as nasfs wrote it before page checksums: plain SQLite, no reserved bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE _replica (id INTEGER PRIMARY KEY CHECK (id = 1), "
                     "generation INTEGER NOT NULL, identity TEXT NOT NULL)")
        conn.execute("INSERT INTO _replica VALUES (1, ?, 'vol')", (generation,))
        conn.execute("CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, "
                     "migration_set TEXT, name TEXT, applied_at TEXT)")
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('test', 'm001_items', '2026-01-01')")
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
        conn.executemany("INSERT INTO item (name) VALUES (?)", [(n,) for n in names])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def test_copies_of_the_older_format_are_upgraded_in_place(tmp_path: Path) -> None:
    from nasfs.db import checksums

    dirs = _dirs(tmp_path, 3)
    for i, d in enumerate(dirs):
        _older_format_copy(d / "meta.db", 5 if i == 1 else 4, ["a", "b"] if i == 1 else ["a"])
    events: list[DBEvent] = []
    db = _open(dirs, events)
    db.close()
    assert [e.kind for e in events if e.path == dirs[1] / "meta.db"] == ["upgraded"]
    for d in dirs:
        assert checksums.has_checksums(d / "meta.db") and checksums.verify(d / "meta.db") == []
        assert _names(d / "meta.db") == ["a", "b"]  # the newest copy's rows, everywhere


def test_a_copy_without_checksums_is_never_the_source_beside_one_with(tmp_path: Path) -> None:
    # A flipped header byte 20 must not pass for an older copy to upgrade: while any copy
    # has checksums, one without is damaged, however new its generation says it is.
    dirs = _dirs(tmp_path, 3)
    db = _open(dirs)
    db.execute("INSERT INTO item (name) VALUES (?)", ("good",))
    db.commit(durable=True)
    db.close()
    for d in dirs[1:]:
        (d / "meta.db").unlink()
        _older_format_copy(d / "meta.db", 99, ["bad"])
    events: list[DBEvent] = []
    db = _open(dirs, events)
    db.close()
    assert {e.path for e in events if e.kind == "repaired"} == {d / "meta.db" for d in dirs[1:]}
    assert all(_names(d / "meta.db") == ["good"] for d in dirs)


@pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")
def test_the_last_copy_failing_its_flush_is_metadata_lost(tmp_path: Path) -> None:
    """The disk of the only copy dies between a commit and the durable flush of it: the
    flush fails with MetadataLostError naming the copy, not a bare OSError."""
    from tests.diskfail_util import ext4_disks, shut_down

    with ext4_disks(tmp_path, ["d0"]) as (point,):
        db = _open([point / "nasfs" / "db"], sync=0)
        try:
            db.execute("INSERT INTO item (name) VALUES ('a')")
            db.commit()  # in the WAL, in the page cache: not yet on the disk
            shut_down(point)
            with pytest.raises(MetadataLostError, match="last copy of the meta database"):
                db.commit(durable=True)
        finally:
            db.close()
