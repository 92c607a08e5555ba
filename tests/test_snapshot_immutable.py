"""A snapshot never changes after it is taken, whatever happens to the live tree: every kind
of mutation the filesystem layer offers, across several snapshots, deletions and a reopen."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, AttrChanges, Filesystem, errors
from nasfs.fs.snapshots import SnapshotLocked, SnapshotNotFound
from nasfs.store import Store
from tests import fs_util
from tests.snapshot_util import picture_of_live, picture_of_view, refs_agree

# The four-member array and its open store, by name (pytest finds fixtures in the module).
members, store = fs_util.members, fs_util.store

R = ROOT_CALLER
MiB = 1 << 20


async def build_tree(fs: Filesystem) -> dict[str, int]:
    """A small tree with every kind of object; returns inode numbers by role."""
    d = fs.mkdir(ROOT_INODE, b"docs", 0o755, R)
    sub = fs.mkdir(d.ino, b"sub", 0o750, R)
    empty = fs.mkdir(ROOT_INODE, b"empty", 0o700, R)
    big = fs.create(d.ino, b"big", 0o644, R)
    await fs.write(big.ino, 0, os.urandom(3 * MiB + 12345))
    small = fs.create(sub.ino, b"small", 0o600, R)
    await fs.write(small.ino, 0, b"small file content")
    other = fs.create(d.ino, b"other", 0o644, R)
    await fs.write(other.ino, 0, b"other" * 1000)
    victim = fs.create(ROOT_INODE, b"victim", 0o644, R)
    await fs.write(victim.ino, 0, b"to be deleted" * 100)
    link = fs.symlink(d.ino, b"link", b"sub/small", R)
    fifo = fs.mknod(d.ino, b"fifo", stat.S_IFIFO | 0o644, 0, R)
    fs.setxattr(big.ino, b"user.note", b"first", R)
    fs.setxattr(d.ino, b"user.dir", b"dir attr", R)
    fs.link(small.ino, d.ino, b"hardlink", R)
    for a in (big, small, other, victim):
        await fs.release(a.ino)
    await fs.commit()
    return {"docs": d.ino, "sub": sub.ino, "empty": empty.ino, "big": big.ino,
            "small": small.ino, "other": other.ino, "victim": victim.ino, "link": link.ino,
            "fifo": fifo.ino}


async def mutate_everything(fs: Filesystem, ino: dict[str, int], round_: int) -> None:
    """Every mutation kind once (names made unique by `round_`)."""
    tag = str(round_).encode()
    d, sub = ino["docs"], ino["sub"]
    big, small = ino["big"], ino["small"]
    # Data: overwrite inside a record, across records, extend, shrink, grow, O_TRUNC.
    await fs.write(big, 100, b"X" * 1000)
    await fs.write(big, MiB - 10, b"Y" * 20)
    await fs.write(big, 5 * MiB, b"tail" + tag)
    await fs.setattr(big, AttrChanges(size=2 * MiB + 7), R)
    await fs.setattr(big, AttrChanges(size=4 * MiB), R)
    await fs.open_file(small, os.O_WRONLY | os.O_TRUNC, R)
    await fs.write(small, 0, b"rewritten " + tag)
    await fs.release(small)
    # Attributes.
    await fs.setattr(big, AttrChanges(mode=0o600, uid=1000, gid=1000, atime_ns=1,
                                      mtime_ns=2), R)
    await fs.setattr(d, AttrChanges(mode=0o711), R)
    # Namespace: create, mkdir, mknod, symlink, link, unlink, rmdir, rename in all forms.
    n = fs.create(sub, b"new" + tag, 0o644, R)
    await fs.write(n.ino, 0, b"new file " + tag)
    await fs.release(n.ino)
    fs.mkdir(d, b"newdir" + tag, 0o755, R)
    fs.mknod(d, b"node" + tag, stat.S_IFREG | 0o600, 0, R)
    fs.symlink(ROOT_INODE, b"sl" + tag, b"/somewhere/" + tag, R)
    fs.link(big, sub, b"biglink" + tag, R)
    fs.rename(d, b"other", d, b"other-renamed" + tag, 0, R)
    fs.rename(d, b"other-renamed" + tag, sub, b"other", 0, R)
    fs.rename(sub, b"other", d, b"other", 0, R)  # back, but through new rows
    fs.rename(ROOT_INODE, b"sl" + tag, d, b"hardlink", 0, R)  # over an existing file
    fs.rename(d, b"link", sub, b"small", fs_flags_exchange(), R)  # exchange
    fs.rename(sub, b"small", d, b"link", fs_flags_exchange(), R)  # and back
    fs.mkdir(ROOT_INODE, b"gone" + tag, 0o755, R)
    fs.rename(ROOT_INODE, b"gone" + tag, ROOT_INODE, b"empty", 0, R)  # over an empty dir
    fs.rmdir(ROOT_INODE, b"empty", R)
    fs.mkdir(ROOT_INODE, b"empty", 0o700, R)
    if fs.repo.lookup(ROOT_INODE, b"victim") is not None:
        v = fs.lookup(ROOT_INODE, b"victim", R)
        assert v is not None
        await fs.open_file(v.ino, os.O_RDONLY, R)
        fs.unlink(ROOT_INODE, b"victim", R)  # unlinked while open: an orphan
        await fs.write(v.ino, 0, b"written to an orphan")
        await fs.release(v.ino)
        fs.forget(v.ino, 1)  # purged now
    fs.unlink(d, b"fifo" if fs.repo.lookup(d, b"fifo") else b"node" + tag, R)
    # Xattrs: new, replaced, removed.
    fs.setxattr(big, b"user.note", b"changed " + tag, R)
    fs.setxattr(big, b"user.more" + tag, b"x", R)
    fs.removexattr(d, b"user.dir", R) if b"user.dir" in fs.listxattr(d) else None
    fs.setxattr(d, b"user.dir", b"again " + tag, R)
    await fs.commit()


def fs_flags_exchange() -> int:
    from nasfs.fs import RENAME_EXCHANGE

    return RENAME_EXCHANGE


async def test_a_snapshot_never_changes(members: list[Path], store: Store) -> None:
    fs = Filesystem.open(store)
    ino = await build_tree(fs)
    s1 = await fs.snapshots.create(name="one")
    want1 = await picture_of_view(fs.snapshot_view(s1.id))
    assert want1 == await picture_of_live(fs)
    await mutate_everything(fs, ino, 1)
    assert await picture_of_view(fs.snapshot_view(s1.id)) == want1
    assert await picture_of_live(fs) != want1

    s2 = await fs.snapshots.create()
    assert s2.name.startswith("@GMT-")
    want2 = await picture_of_view(fs.snapshot_view(s2.id))
    assert want2 == await picture_of_live(fs)
    # Mutating twice in one generation (rows born now change in place) and again later.
    await mutate_everything(fs, ino, 2)
    await mutate_everything(fs, ino, 3)
    assert await picture_of_view(fs.snapshot_view(s1.id)) == want1
    assert await picture_of_view(fs.snapshot_view(s2.id)) == want2
    live = await picture_of_live(fs)
    assert refs_agree(fs)

    # Survives a reopen.
    await fs.close()
    fs = Filesystem.open(store)
    assert await picture_of_view(fs.snapshot_view(s1.id)) == want1
    assert await picture_of_view(fs.snapshot_view(s2.id)) == want2
    assert await picture_of_live(fs) == live

    # Deleting one snapshot leaves the other and the live tree exactly as they were.
    await fs.snapshots.set_locked(s1.id, True)
    with pytest.raises(SnapshotLocked):
        await fs.snapshots.delete(s1.id)
    await fs.snapshots.set_locked(s1.id, False)
    await fs.snapshots.delete(s1.id)
    with pytest.raises(SnapshotNotFound):
        fs.snapshot_view(s1.id)
    assert await picture_of_view(fs.snapshot_view(s2.id)) == want2
    assert await picture_of_live(fs) == live
    assert refs_agree(fs)
    await fs.snapshots.delete(s2.id)
    assert await picture_of_live(fs) == live
    assert refs_agree(fs)
    # With no snapshot left, no dead row is left either.
    for table in ("inode", "dentry", "extent", "symlink", "xattr"):
        assert fs.db.query_one(f"SELECT count(*) FROM {table} WHERE died IS NOT NULL")[0] == 0
    await fs.close()


async def test_a_deleted_snapshot_view_says_enoent(store: Store) -> None:
    fs = Filesystem.open(store)
    await build_tree(fs)
    s = await fs.snapshots.create()
    view = fs.snapshot_view(s.id)
    assert view.lookup(ROOT_INODE, b"docs").ino
    await fs.snapshots.delete(s.id)
    with pytest.raises(errors.NotFound):
        view.getattr(ROOT_INODE)
    with pytest.raises(errors.NotFound):
        fs.snapshot_view(12345)
    await fs.close()


async def test_view_errors_match_a_filesystem(store: Store) -> None:
    fs = Filesystem.open(store)
    ino = await build_tree(fs)
    view = fs.snapshot_view((await fs.snapshots.create()).id)
    with pytest.raises(errors.NotFound):
        view.lookup(ROOT_INODE, b"nope")
    with pytest.raises(errors.NotADirectory):
        view.readdir(ino["big"], 0, 10)
    with pytest.raises(errors.InvalidArgument):
        view.readlink(ino["big"])
    with pytest.raises(errors.NoSuchAttribute):
        view.getxattr(ino["big"], b"user.none")
    assert view.readlink(ino["link"]) == b"sub/small"
    assert await view.read(ino["big"], 3 * MiB + 12340, 100) == (
        await fs.read(ino["big"], 3 * MiB + 12340, 100))
    await fs.close()
