"""SQL statements of a create's requests (counted on the database's primary copy, so they do
not depend on the machine's load): the kernel's security.capability probe before a write,
a negative lookup before a create, the first write and flush of the new file and the
release after it read nothing they need not, and the errors the skipped reads gave (an
unknown parent or inode) are still given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, AttrChanges, Filesystem, errors
from tests import fs_util

R = ROOT_CALLER
CAPABILITY = b"security.capability"


# The four-member array, its store and a filesystem on it, by name (tests/fs_util.py).
members, store, fs = fs_util.members, fs_util.store, fs_util.fs


@contextmanager
def statements(fs: Filesystem) -> Iterator[list[str]]:
    ran: list[str] = []
    conn = fs.db.conn  # type: ignore[attr-defined]
    conn.set_trace_callback(ran.append)
    try:
        yield ran
    finally:
        conn.set_trace_callback(None)


async def test_a_create_reads_only_what_it_needs(fs: Filesystem) -> None:
    d = fs.mkdir(ROOT_INODE, b"d", 0o755, R)  # referenced by the kernel, as after a LOOKUP
    with statements(fs) as ran:
        assert fs.lookup(d.ino, b"f", R) is None
    assert len(ran) == 1  # the entry; the parent is known to exist
    f = fs.create(d.ino, b"f", 0o644, R)
    with statements(fs) as ran, pytest.raises(errors.NoSuchAttribute):
        fs.getxattr(f.ino, CAPABILITY)
    assert ran == []  # a file just created has no xattr rows (and it exists: it is open)
    with statements(fs) as ran:
        await fs.write(f.ino, 0, b"x" * 4096)
    assert len(ran) == 1  # its size; no look for a stored record 0, there is none yet
    with statements(fs) as ran:
        await fs.release(f.ino)
    assert ran == []  # still referenced: forget decides whether it goes
    with statements(fs) as ran:
        await fs.commit()
    # The extent row written without looking for one to replace, then the commit's own.
    assert not any(s.startswith("SELECT") and "FROM extent" in s for s in ran)
    assert sum(s.startswith("INSERT INTO extent") for s in ran) == 1
    assert await fs.read(f.ino, 0, 8192) == b"x" * 4096


async def test_rows_written_after_the_create_are_read_again(fs: Filesystem) -> None:
    f = fs.create(ROOT_INODE, b"later", 0o644, R)
    fs.setxattr(f.ino, b"user.k", b"v", R)
    with statements(fs) as ran:
        assert fs.getxattr(f.ino, b"user.k") == b"v"
        assert fs.listxattr(f.ino) == [b"user.k"]
    assert len(ran) == 2
    rs = fs.data.record_size
    await fs.write(f.ino, 0, b"a" * rs)
    await fs.commit()  # record 0 stored: later writes into it must find it
    with statements(fs) as ran:
        await fs.write(f.ino, 10, b"b")
    assert any("FROM extent" in s for s in ran)
    await fs.release(f.ino)
    await fs.commit()
    assert await fs.read(f.ino, 0, 12) == b"a" * 10 + b"b" + b"a"
    # A statement the repository did not make (another module's, a migration) may have
    # written rows of any inode: what was known of new files is forgotten.
    g = fs.create(ROOT_INODE, b"foreign", 0o644, R)
    fs.db.execute("INSERT INTO xattr (ino, name, value, born, died) VALUES (?, ?, ?, ?, NULL)",
                  (g.ino, b"user.k", b"w", fs.repo.generation))
    assert fs.getxattr(g.ino, b"user.k") == b"w"
    assert fs.listxattr(g.ino) == [b"user.k"]
    await fs.release(g.ino)


async def test_unreferenced_parents_and_inodes_are_still_checked(fs: Filesystem) -> None:
    with pytest.raises(errors.NotFound):
        fs.lookup(999_999, b"f", R)
    with pytest.raises(errors.NotFound):
        fs.getxattr(999_999, CAPABILITY)
    f = fs.create(ROOT_INODE, b"f", 0o644, R)
    fs.forget(f.ino, 1)  # the kernel dropped it; the file is still open
    with pytest.raises(errors.NotADirectory):
        fs.lookup(f.ino, b"x", R)
    # Unlinked while open, no longer referenced: it goes at its release.
    fs.unlink(ROOT_INODE, b"f", R)
    await fs.release(f.ino)
    assert fs.repo.get_inode(f.ino) is None


async def test_rows_just_written_or_read_are_not_read_again(fs: Filesystem) -> None:
    d = fs.mkdir(ROOT_INODE, b"rows", 0o755, R)
    f = fs.create(d.ino, b"f", 0o644, R)
    with statements(fs) as ran:
        assert fs.getattr(d.ino) == fs.repo.get_inode(d.ino)  # the folder, just updated
        got = fs.getattr(f.ino)  # the file, just inserted
    assert ran == []
    assert got.size == 0 and got.nlink == 1
    got.size = 12345  # callers change what they get: the kept row must not follow
    assert fs.getattr(f.ino).size == 0
    await fs.write(f.ino, 0, b"x" * 100)
    with statements(fs) as ran:
        assert fs.getattr(f.ino).size == 100  # the write's own update, kept as written
    assert ran == []
    await fs.release(f.ino)
    await fs.commit()
    with statements(fs) as ran:
        assert fs.getattr(f.ino).size == 100  # a commit changes no row
    assert ran == []


async def test_changes_the_repository_did_not_make_drop_the_kept_rows(fs: Filesystem) -> None:
    d = fs.mkdir(ROOT_INODE, b"foreign", 0o755, R)
    await fs.commit()
    fs.getattr(d.ino)
    # A statement of another module on fs.db (a migration, the trash's own tables).
    fs.db.execute("UPDATE inode SET mode = ? WHERE id = ? AND died IS NULL",
                  (0o40700, d.ino))
    with statements(fs) as ran:
        assert fs.getattr(d.ino).mode == 0o40700
    assert len(ran) == 1
    # A rollback undoes rows the repository wrote and kept.
    fs.db.rollback()
    await fs.setattr(d.ino, AttrChanges(mode=0o751), R)
    with statements(fs) as ran:
        assert fs.getattr(d.ino).mode & 0o7777 == 0o751
    assert ran == []
    fs.db.rollback()
    with statements(fs) as ran:
        assert fs.getattr(d.ino).mode == 0o40755
    assert len(ran) == 1
    # A removed inode is gone from memory too.
    f = fs.create(d.ino, b"gone", 0o644, R)
    fs.unlink(d.ino, b"gone", R)
    fs.forget(f.ino, 1)
    await fs.release(f.ino)
    with pytest.raises(errors.NotFound):
        fs.getattr(f.ino)


async def test_a_files_blocks_are_read_once_until_its_records_change(fs: Filesystem) -> None:
    f = fs.create(ROOT_INODE, b"blocks", 0o644, R)
    rs = fs.data.record_size
    await fs.write(f.ino, 0, b"x" * 1000)
    await fs.release(f.ino)
    await fs.commit()
    assert fs.blocks(fs.getattr(f.ino)) == 2
    with statements(fs) as ran:
        assert fs.blocks(fs.getattr(f.ino)) == 2  # a GETATTR or LOOKUP reply again
    assert ran == []
    await fs.write(f.ino, rs, b"y" * rs)  # a second record, stored at the commit
    await fs.commit()
    assert fs.blocks(fs.getattr(f.ino)) == 2 + rs // 512
    await fs.setattr(f.ino, AttrChanges(size=10), R)  # the second record goes, the first
    await fs.commit()  # is cut to 10 bytes
    assert fs.blocks(fs.getattr(f.ino)) == 1


async def test_the_last_look_at_an_entry_is_answered_until_anything_changes(
        fs: Filesystem) -> None:
    d = fs.mkdir(ROOT_INODE, b"d", 0o755, R)
    fs.create(d.ino, b"f", 0o644, R)
    await fs.commit()
    with statements(fs) as ran:
        looked = fs.lookup(d.ino, b"f", R)  # the kernel's LOOKUP
    assert looked is not None and len(ran) == 1
    with statements(fs) as ran:
        seen = fs.peek(d.ino, b"f")  # the UNLINK's own look at the same entry
    assert ran == [] and seen == looked
    assert seen is not None and seen is not looked
    seen.size = 99  # callers change what they get: the answer kept is not theirs
    assert fs.peek(d.ino, b"f") == looked
    # Any write statement moves the stamp: the next look reads, and sees the change.
    fs.create(d.ino, b"g", 0o644, R)
    with statements(fs) as ran:
        assert fs.peek(d.ino, b"g") is not None
    assert len(ran) == 1
    # A negative look is kept too: the create it comes before checks the name for free.
    with statements(fs) as ran:
        assert fs.lookup(d.ino, b"h", R) is None
    assert len(ran) == 1
    with statements(fs) as ran:
        fs.create(d.ino, b"h", 0o644, R)
    assert not any(s.startswith("SELECT") and "FROM dentry" in s for s in ran)
    with statements(fs) as ran:
        assert fs.peek(d.ino, b"h") is not None
    assert len(ran) == 1
    # A rollback moves the stamp as well: the entry it undid is gone again.
    fs.db.rollback()
    with statements(fs) as ran:
        assert fs.peek(d.ino, b"h") is None
    assert len(ran) == 1
    assert fs.peek(d.ino, b"f") is not None
