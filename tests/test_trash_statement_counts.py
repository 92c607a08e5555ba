"""A deletion into the trash reads what it needs once: the gate's look at the entry is
handed to the trash and on to the rename (no second or third lookup of it), the next item
id is counted in memory after the first (`max(id)` again only after a rollback), and the
new item is not read back after its insert; what the move returns is exactly what the trash
then reads back. In-process on a real store and fs.db, counting SQL statements on the
primary copy (independent of the machine's load)."""

from __future__ import annotations

from pathlib import Path

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem
from nasfs.policy import ManualClock
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS, Trash
from nasfs.trash.service import Deleter

WHO = Deleter("alice", 2001)
ENTRY_LOOKUP = "FROM dentry d JOIN inode i"


async def test_a_move_to_the_trash_reads_the_entry_once(tmp_path: Path) -> None:
    members = [tmp_path / f"m{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1)
    store = Store.open(members)
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    try:
        trash = Trash(fs, ManualClock())
        share = fs.mkdir(ROOT_INODE, b"docs", 0o777, ROOT_CALLER)
        f = fs.create(share.ino, b"f", 0o644, ROOT_CALLER)
        await fs.write(f.ino, 0, b"data")
        await fs.release(f.ino)
        seen = fs.peek(share.ino, b"f")  # as the gate looks at it before deciding
        assert seen is not None
        ran: list[str] = []
        conn = fs.db.conn  # type: ignore[attr-defined]
        conn.set_trace_callback(ran.append)
        try:
            item = trash.move_in(share.ino, b"f", "docs", b"/f", WHO, "unlink", seen)
        finally:
            conn.set_trace_callback(None)
        # The rename's own look at the new name in the trash folder, nothing more.
        assert sum(ENTRY_LOOKUP in s for s in ran) == 1
        assert not any("FROM trash_item WHERE id" in s for s in ran)
        # Four writes: the item, the entry moved by one UPDATE (born in this generation,
        # so in no snapshot), the file's row and its folder's; not the trash folder's own
        # times, which nobody sees.
        writes = [s for s in ran if not s.startswith("SELECT")]
        assert [w.split(" WHERE")[0].split(" SET")[0].split(" (")[0] for w in writes] == [
            "INSERT INTO trash_item", "UPDATE dentry", "UPDATE inode", "UPDATE inode"]
        assert not any(f"WHERE id = {trash.dir} " in w for w in writes)
        assert trash.get(item.id) == item
        assert (item.ino, item.size, item.path, item.user) == (f.ino, 4, b"/f", "alice")
        assert fs.peek(share.ino, b"f") is None
        # The trashed inode's row is what it was, but for the name no longer counting.
        moved = fs.getattr(f.ino)
        assert (moved.nlink, moved.size, moved.mtime_ns) == (0, 4, seen.mtime_ns)
        assert moved.ctime_ns >= seen.ctime_ns
    finally:
        await fs.close()
        store.close()


async def test_item_ids_are_counted_in_memory_and_read_again_after_a_rollback(
        tmp_path: Path) -> None:
    members = [tmp_path / f"m{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1)
    store = Store.open(members)
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    try:
        trash = Trash(fs, ManualClock())
        share = fs.mkdir(ROOT_INODE, b"docs", 0o777, ROOT_CALLER)
        for name in (b"a", b"b", b"c", b"d"):
            fs.create(share.ino, name, 0o644, ROOT_CALLER)
        first = trash.move_in(share.ino, b"a", "docs", b"/a", WHO, "unlink")
        await fs.commit()
        ran: list[str] = []
        conn = fs.db.conn  # type: ignore[attr-defined]
        conn.set_trace_callback(ran.append)
        try:
            second = trash.move_in(share.ino, b"b", "docs", b"/b", WHO, "unlink")
        finally:
            conn.set_trace_callback(None)
        assert (first.id, second.id) == (1, 2)
        assert not any("max(id)" in s for s in ran)
        # Undone: item 2 and its move are gone, so the next item is 2 again, as max(id)
        # + 1 says, and it lands in the trash folder under that name.
        fs.db.rollback()
        assert trash.repo.get(2) is None
        again = trash.move_in(share.ino, b"c", "docs", b"/c", WHO, "unlink")
        assert again.id == 2
        assert fs.peek(trash.dir, b"2") is not None
        assert trash.move_in(share.ino, b"d", "docs", b"/d", WHO, "unlink").id == 3
        assert [i.id for i in trash.items()] == [1, 2, 3]
    finally:
        await fs.close()
        store.close()


async def test_a_move_after_a_snapshot_leaves_the_snapshot_its_entry(tmp_path: Path) -> None:
    members = [tmp_path / f"m{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1)
    store = Store.open(members)
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    try:
        trash = Trash(fs, ManualClock())
        share = fs.mkdir(ROOT_INODE, b"docs", 0o777, ROOT_CALLER)
        f = fs.create(share.ino, b"f", 0o644, ROOT_CALLER)
        await fs.write(f.ino, 0, b"kept")
        await fs.release(f.ino)
        snap = await fs.snapshots.create()
        ran: list[str] = []
        conn = fs.db.conn  # type: ignore[attr-defined]
        conn.set_trace_callback(ran.append)
        try:
            item = trash.move_in(share.ino, b"f", "docs", b"/f", WHO, "unlink")
        finally:
            conn.set_trace_callback(None)
        # The entry's row belongs to the snapshot: closed and a new one inserted instead
        # of moved in place (the UPDATE finds no row born in this generation).
        assert any(s.startswith("INSERT INTO dentry") for s in ran)
        assert fs.peek(share.ino, b"f") is None
        assert fs.peek(trash.dir, str(item.id).encode()) is not None
        view = fs.snapshot_view(snap.id)
        assert view.resolve(b"docs/f").ino == f.ino
        assert await view.read(f.ino, 0, 10) == b"kept"
        await fs.commit()
        view = fs.snapshot_view(snap.id)
        assert view.resolve(b"docs/f").ino == f.ino
        assert fs.peek(share.ino, b"f") is None
    finally:
        await fs.close()
        store.close()
