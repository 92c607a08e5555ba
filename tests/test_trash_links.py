"""Trash entries are no links (in-process, real store and fs.db): a trashed file has nlink 0
and lives on, its purge frees it, restore gives the link back, and the fs.db migration
lowers the counts that arrays made before kept for their items; fsck agrees."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem
from nasfs.policy import ManualClock
from nasfs.recovery.fscheck import check_namespace
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS, Trash
from nasfs.trash.service import Deleter

WHO = Deleter("alice", 2001)


def _open(members: list[Path]) -> tuple[Store, Filesystem]:
    store = Store.open(members)
    return store, Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])


def _link_findings(members: list[Path]) -> list[str]:
    conn = sqlite3.connect(members[0] / "nasfs" / "db" / "fs.db")
    try:
        return [f.message for f in check_namespace(conn) if "link count" in f.message]
    finally:
        conn.close()


async def test_trash_entries_do_not_count_and_old_counts_are_migrated(tmp_path: Path) -> None:
    members = [tmp_path / f"m{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1)
    store, fs = _open(members)
    trash = Trash(fs, ManualClock())
    share = fs.mkdir(ROOT_INODE, b"docs", 0o777, ROOT_CALLER)
    kept = fs.create(share.ino, b"kept", 0o644, ROOT_CALLER)
    gone = fs.create(share.ino, b"gone", 0o644, ROOT_CALLER)
    for a in (kept, gone):
        await fs.write(a.ino, 0, b"data")
        await fs.release(a.ino)
        fs.forget(a.ino, 1)
    item = trash.move_in(share.ino, b"kept", "docs", b"/kept", WHO, "unlink")
    other = trash.move_in(share.ino, b"gone", "docs", b"/gone", WHO, "unlink")
    assert fs.getattr(kept.ino).nlink == 0  # no link users can see, yet alive
    assert await fs.read(kept.ino, 0, 10) == b"data"
    trash.purge(other.id)
    assert fs.repo.get_inode(gone.ino) is None  # no name, no reference: purged
    # An array from before: the item's entry counted as a link, and m002 had not run.
    fs.db.execute("UPDATE inode SET nlink = 1 WHERE id = ? AND died IS NULL", (kept.ino,))
    fs.db.execute("DELETE FROM _sqlite_migrations WHERE migration_set = 'nasfs.trash'"
                  " AND name = 'm002_trash_entries_are_no_links'")
    await fs.close()
    store.close()
    assert _link_findings(members) == [
        f"1 inode(s) have a link count other than their number of names: "
        f"inode {kept.ino} nlink 1 names 0"]
    store, fs = _open(members)
    try:
        assert fs.getattr(kept.ino).nlink == 0
        trash = Trash(fs, ManualClock())
        restored = trash.restore(item.id)
        assert (restored.path, fs.getattr(kept.ino).nlink) == (b"/kept", 1)
        assert await fs.read(kept.ino, 0, 10) == b"data"
    finally:
        await fs.close()
        store.close()
    assert _link_findings(members) == []
