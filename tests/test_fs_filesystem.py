"""nasfs.fs without FUSE: versioned rows, store references, orphans, unclean reopen."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, AttrChanges, Filesystem, errors
from nasfs.store import Store
from tests import fs_util

# The four-member array and its open store, by name (pytest finds fixtures in the module).
members, store = fs_util.members, fs_util.store


async def test_versioned_rows_keep_the_old_generation(store: Store) -> None:
    fs = Filesystem.open(store)
    d = fs.mkdir(ROOT_INODE, b"docs", 0o755, ROOT_CALLER)
    f = fs.create(d.ino, b"a", 0o644, ROOT_CALLER)
    await fs.write(f.ino, 0, b"version one")
    await fs.commit()
    frozen = fs.repo.new_generation()  # what taking a snapshot will do
    await fs.write(f.ino, 0, b"VERSION TWO!")
    fs.rename(d.ino, b"a", d.ino, b"b", 0, ROOT_CALLER)
    fs.mkdir(d.ino, b"new", 0o700, ROOT_CALLER)
    await fs.commit()
    assert fs.repo.entries_at(d.ino, frozen) == [(b"a", f.ino)]
    assert {n for n, _ in fs.repo.entries_at(d.ino, frozen + 1)} == {b"b", b"new"}
    old = fs.repo.inode_at(f.ino, frozen)
    assert old is not None and old.size == len(b"version one")
    assert fs.getattr(f.ino).size == len(b"VERSION TWO!")
    assert await fs.read(f.ino, 0, 100) == b"VERSION TWO!"
    # The old extent keeps its chunk (and its store reference) for the snapshot.
    refs = fs.repo.chunk_refcounts()
    assert len(refs) == 2 and all(store.refcount(c) == n for c, n in refs.items())
    await fs.close()


async def test_references_follow_rows_and_are_released(store: Store) -> None:
    fs = Filesystem.open(store)
    f = fs.create(ROOT_INODE, b"f", 0o644, ROOT_CALLER)
    await fs.write(f.ino, 0, b"x" * (3 << 20))
    await fs.fsync(f.ino, False)
    chunks = list(fs.repo.chunk_refcounts())
    assert len(chunks) == 1  # three identical records: one chunk, deduplicated
    assert store.refcount(chunks[0]) == 3
    await fs.setattr(f.ino, AttrChanges(size=(1 << 20) + 10), ROOT_CALLER)
    await fs.commit()
    assert store.refcount(chunks[0]) == 1
    fs.unlink(ROOT_INODE, b"f", ROOT_CALLER)
    await fs.commit()
    assert store.refcount(chunks[0]) == 1  # still open: an orphan keeps its data
    await fs.release(f.ino)
    fs.forget(f.ino, 1)  # the kernel's last reference
    await fs.commit()
    assert store.refcount(chunks[0]) == 0
    await fs.close()


async def test_orphans_are_purged_at_the_next_mount(members: list[Path]) -> None:
    store = Store.open(members)
    fs = Filesystem.open(store)
    f = fs.create(ROOT_INODE, b"open", 0o644, ROOT_CALLER)
    await fs.write(f.ino, 0, b"data" * 1000)
    await fs.commit()
    fs.unlink(ROOT_INODE, b"open", ROOT_CALLER)  # still open and looked up: an orphan
    assert await fs.read(f.ino, 0, 8) == b"datadata"
    await fs.commit()
    # Crash: no close. The next open must purge the orphan and recount references.
    fs.db.close()
    store.close()
    store = Store.open(members)
    fs = Filesystem.open(store)
    with pytest.raises(errors.NotFound):
        fs.getattr(f.ino)
    assert fs.repo.chunk_refcounts() == {}
    assert store.capacity().live_chunks == 0
    await fs.close()
    store.close()


async def test_namespace_errors(store: Store) -> None:
    fs = Filesystem.open(store)
    with pytest.raises(errors.NameTooLong):
        fs.mkdir(ROOT_INODE, b"x" * 256, 0o755, ROOT_CALLER)
    with pytest.raises(errors.InvalidArgument):
        fs.mkdir(ROOT_INODE, b"a/b", 0o755, ROOT_CALLER)
    d = fs.mkdir(ROOT_INODE, b"d", 0o755, ROOT_CALLER)
    fs.mknod(d.ino, b"fifo", stat.S_IFIFO | 0o644, 0, ROOT_CALLER)
    with pytest.raises(errors.NotEmpty):
        fs.rmdir(ROOT_INODE, b"d", ROOT_CALLER)
    with pytest.raises(errors.InvalidArgument):
        fs.rename(ROOT_INODE, b"d", d.ino, b"inside", 0, ROOT_CALLER)
    with pytest.raises(errors.NoSuchAttribute):
        fs.getxattr(d.ino, b"user.none")
    await fs.close()


async def test_write_buffers_are_forgotten_once_flushed(store: Store) -> None:
    """Per-file buffers must not accumulate: dirty scans would grow with every file ever written."""
    fs = Filesystem.open(store)
    inos = []
    for i in range(200):
        f = fs.create(ROOT_INODE, f"f{i}".encode(), 0o644, ROOT_CALLER)
        await fs.write(f.ino, 0, f"content {i}".encode())
        inos.append(f.ino)
    assert len(fs.data.files) == 200
    await fs.commit()
    assert fs.data.files == {}
    # Writing, truncating and reading again after being forgotten works as before.
    await fs.write(inos[0], 0, b"again")
    await fs.commit()
    await fs.setattr(inos[1], AttrChanges(size=3), ROOT_CALLER)
    await fs.commit()
    assert await fs.read(inos[0], 0, 100) == b"again" + b"content 0"[5:]
    assert await fs.read(inos[1], 0, 100) == b"con"
    assert fs.data.files == {}
    await fs.close()


async def test_detached_content_under_a_snapshot_copies_no_data(store: Store) -> None:
    """Trash keeping old content (O_TRUNC) while a snapshot holds it: references, not bytes."""
    fs = Filesystem.open(store)
    f = fs.create(ROOT_INODE, b"report", 0o644, ROOT_CALLER)
    await fs.write(f.ino, 0, b"old content" * 1000)
    await fs.commit()
    fs.repo.new_generation()  # a snapshot now names the old extent row
    before = store.capacity().stored_bytes
    moved = await fs.detach_content(f.ino)
    await fs.commit()
    assert store.capacity().stored_bytes == before  # nothing was written again
    assert await fs.read(moved.ino, 0, 11) == b"old content"
    assert fs.getattr(f.ino).size == 0
    refs = fs.repo.chunk_refcounts()
    assert all(store.refcount(c) == n for c, n in refs.items())
    await fs.close()
