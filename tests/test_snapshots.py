"""Snapshots on a real store, without FUSE: the 256 limit, restore, diff, space and reserve."""

from __future__ import annotations

import os
import stat

import pytest

from nasfs.clock import ManualClock
from nasfs.fs import ROOT_CALLER, ROOT_INODE, AttrChanges, Filesystem, errors
from nasfs.fs.snapshots import (
    InvalidSnapshotName,
    SnapshotExists,
    SnapshotLimit,
    parse_default_name,
)
from nasfs.store import Store
from tests import fs_util
from tests.snapshot_util import picture_of_live, picture_of_view, refs_agree

R = ROOT_CALLER
MiB = 1 << 20


# The four-member array and its store, by name (tests/fs_util.py).
members, store = fs_util.members, fs_util.store


async def write_file(fs: Filesystem, parent: int, name: bytes, data: bytes) -> int:
    a = fs.lookup(parent, name, R) or fs.create(parent, name, 0o644, R)
    await fs.setattr(a.ino, AttrChanges(size=0), R)
    await fs.write(a.ino, 0, data)
    if fs._open.get(a.ino):
        await fs.release(a.ino)
    fs.forget(a.ino, 1)  # as the kernel would: unlinking it later purges it at once
    return a.ino


async def test_300_snapshots_keep_256_oldest_unlocked_go_first(store: Store) -> None:
    fs = Filesystem.open(store)
    clock = ManualClock(1_750_000_000)
    fs.snapshots.clock = clock
    ino = await write_file(fs, ROOT_INODE, b"counter", b"0")
    taken = []
    for i in range(300):
        await fs.write(ino, 0, b"%d" % i)
        await fs.setattr(ino, AttrChanges(size=len(b"%d" % i)), R)
        info = await fs.snapshots.create()
        taken.append(info)
        if i in (0, 7, 100):
            await fs.snapshots.set_locked(info.id, True)
        clock.advance(1)
    remaining = fs.snapshots.list(sizes=False)
    assert len(remaining) == 256
    locked = {taken[i].id for i in (0, 7, 100)}
    unlocked_order = [t.id for t in taken if t.id not in locked]
    expect = locked | set(unlocked_order[300 - 256:])
    assert {r.id for r in remaining} == expect
    # Each remaining snapshot still shows the counter of its own moment.
    number = {t.id: i for i, t in enumerate(taken)}
    for r in remaining:
        view = fs.snapshot_view(r.id)
        assert await view.read(ino, 0, 10) == b"%d" % number[r.id]
        assert parse_default_name(r.name) == 1_750_000_000 + number[r.id]
    assert refs_agree(fs)
    await fs.close()


async def test_limit_with_every_snapshot_locked_refuses(store: Store) -> None:
    fs = Filesystem.open(store)
    fs.snapshots.max_snapshots = 3
    for i in range(3):
        s = await fs.snapshots.create(name=f"s{i}")
        await fs.snapshots.set_locked(s.id, True)
    with pytest.raises(SnapshotLimit, match="all 3 snapshots are locked"):
        await fs.snapshots.create()
    with pytest.raises(SnapshotExists):
        await fs.snapshots.set_locked(s.id, False) and await fs.snapshots.create(name="s0")
    with pytest.raises(SnapshotExists):
        await fs.snapshots.create(name="s1")
    with pytest.raises(InvalidSnapshotName):
        await fs.snapshots.create(name="a/b")
    await fs.close()


async def test_default_names_never_collide(store: Store) -> None:
    fs = Filesystem.open(store)
    fs.snapshots.clock = ManualClock(1_750_000_000.5)
    a = await fs.snapshots.create()
    b = await fs.snapshots.create()
    assert a.name == "@GMT-2025.06.15-15.06.40"
    assert b.name == "@GMT-2025.06.15-15.06.41"
    await fs.close()


async def make_deep_tree(fs: Filesystem, depth: int = 6) -> int:
    top = fs.mkdir(ROOT_INODE, b"project", 0o2775, R)
    parent = top.ino
    first_file = 0
    for level in range(depth):
        for j in range(3):
            data = os.urandom(1000 * (level + 1) * (j + 1) + (MiB if j == 2 else 0))
            f = fs.create(parent, b"file%d-%d" % (level, j), 0o600 + j, R)
            await fs.write(f.ino, 0, data)
            await fs.release(f.ino)
            await fs.setattr(f.ino, AttrChanges(uid=1000 + j, gid=2000, atime_ns=111 * level,
                                                mtime_ns=222 * level + j), R)
            fs.setxattr(f.ino, b"user.level", b"%d" % level, R)
            first_file = first_file or f.ino
        fs.symlink(parent, b"link%d" % level, b"../target/%d" % level, R)
        fs.mknod(parent, b"fifo%d" % level, stat.S_IFIFO | 0o640, 0, R)
        d = fs.mkdir(parent, b"level%d" % (level + 1), 0o750, R)
        fs.setxattr(d.ino, b"user.dir", b"\x00\xffbinary", R)
        parent = d.ino
    fs.link(first_file, parent, b"hardlink-to-first", R)
    await fs.commit()
    return top.ino


def without_ctime(picture: dict[bytes, tuple[object, ...]], prefix: bytes
                  ) -> dict[bytes, tuple[object, ...]]:
    # ctime is the restore's own time; everything else must be identical.
    return {k[len(prefix):]: v[:9] + v[10:] for k, v in picture.items() if k.startswith(prefix)}


async def test_restore_a_deep_tree_and_a_file_byte_exact(store: Store) -> None:
    fs = Filesystem.open(store)
    await make_deep_tree(fs)
    snap = await fs.snapshots.create(name="before")
    want = without_ctime(await picture_of_view(fs.snapshot_view(snap.id)), b"/project")
    # Damage the live tree: change a file, then delete the whole tree.
    level1 = fs.lookup(fs.lookup(ROOT_INODE, b"project", R).ino, b"level1", R)  # type: ignore[union-attr]
    assert level1 is not None
    f = fs.lookup(level1.ino, b"file1-0", R)
    assert f is not None
    await fs.write(f.ino, 0, b"CHANGED")
    await fs.commit()
    chunks_before = store.capacity().chunks

    # Into place while the folder exists: beside it, with the snapshot's name.
    beside = await fs.snapshots.restore(snap.id, b"project")
    assert beside.path == b"project (before)"
    got = without_ctime(await picture_of_live(fs), b"/project (before)")
    assert got == want
    assert store.capacity().chunks == chunks_before  # nothing was written, only referenced
    assert refs_agree(fs)

    # To another place.
    fs.mkdir(ROOT_INODE, b"elsewhere", 0o755, R)
    moved = await fs.snapshots.restore(snap.id, b"project/level1", to=b"elsewhere/copy")
    assert moved.path == b"elsewhere/copy"
    part = {k[len(b"/level1"):]: v for k, v in want.items() if k.startswith(b"/level1")}
    # The hard link's other name (project/file0-0) is outside this subtree: one link left.
    hl = b"/level2/level3/level4/level5/level6/hardlink-to-first"
    part[hl] = (*part[hl][:4], 1, *part[hl][5:])
    assert without_ctime(await picture_of_live(fs), b"/elsewhere/copy") == part
    with pytest.raises(errors.AlreadyExists):
        await fs.snapshots.restore(snap.id, b"project/level1", to=b"elsewhere/copy")
    with pytest.raises(errors.NotFound):
        await fs.snapshots.restore(snap.id, b"project/nothing")
    assert refs_agree(fs)

    # A single file into place after it was deleted: byte-exact, with its attributes.
    fs.unlink(level1.ino, b"file1-0", R)
    await fs.commit()
    one = await fs.snapshots.restore(snap.id, b"project/level1/file1-0")
    assert one.path == b"project/level1/file1-0"
    live = await picture_of_live(fs)
    assert live[b"/project/level1/file1-0"][:9] == want[b"/level1/file1-0"][:9]
    assert live[b"/project/level1/file1-0"][10:] == want[b"/level1/file1-0"][9:]

    # The restored data outlives the snapshot.
    await fs.snapshots.delete(snap.id)
    await fs.close()
    fs = Filesystem.open(store)
    got = without_ctime(await picture_of_live(fs), b"/project (before)")
    assert got == want
    assert refs_agree(fs)
    await fs.close()


async def test_diff_between_snapshots_and_now(store: Store) -> None:
    fs = Filesystem.open(store)
    d = fs.mkdir(ROOT_INODE, b"d", 0o755, R)
    keep = await write_file(fs, d.ino, b"keep", b"same")
    change = await write_file(fs, d.ino, b"change", b"old")
    await write_file(fs, d.ino, b"remove", b"bye")
    fs.mkdir(d.ino, b"olddir", 0o755, R)
    a = await fs.snapshots.create()
    await fs.write(change, 0, b"new")
    fs.unlink(d.ino, b"remove", R)
    fs.rmdir(d.ino, b"olddir", R)
    sub = fs.mkdir(d.ino, b"newdir", 0o755, R)
    await write_file(fs, sub.ino, b"inside", b"x")
    fs.setxattr(keep, b"user.tag", b"t", R)
    b = await fs.snapshots.create()
    diff = await fs.snapshots.diff(a.id, b.id)
    assert diff.added == [b"d/newdir", b"d/newdir/inside"]
    assert diff.changed == [b"d/change", b"d/keep"]
    assert diff.removed == [b"d/olddir", b"d/remove"]
    assert (await fs.snapshots.diff(b.id, a.id)).to_json() == diff.to_json()
    await fs.write(change, 0, b"newer, unflushed")  # buffered writes count as "now"
    now = await fs.snapshots.diff(b.id)
    assert now.changed == [b"d/change"] and not now.added and not now.removed
    await fs.close()


async def test_space_comes_back_as_predicted(store: Store) -> None:
    fs = Filesystem.open(store)
    sizes = {b"one": 3 * MiB + 5, b"two": 2 * MiB + 7, b"three": MiB}
    for name, size in sizes.items():
        await write_file(fs, ROOT_INODE, name, os.urandom(size))
    await fs.commit()
    a = await fs.snapshots.create(name="a")
    fs.unlink(ROOT_INODE, b"one", R)
    b = await fs.snapshots.create(name="b")
    fs.unlink(ROOT_INODE, b"two", R)
    await fs.commit()
    figures = {s.name: s for s in fs.snapshots.list()}
    assert figures["a"].exclusive_bytes == sizes[b"one"]
    assert figures["a"].shared_bytes == sizes[b"two"]
    assert figures["b"].exclusive_bytes == 0
    assert figures["b"].shared_bytes == sizes[b"two"]
    assert fs.snapshots.held_bytes(fresh=True) == sizes[b"one"] + sizes[b"two"]
    used0 = store.capacity().used_bytes

    await fs.snapshots.delete(b.id)
    assert store.capacity().used_bytes == used0  # b held nothing alone
    predicted = fs.snapshots.list()[0].exclusive_bytes
    assert predicted == sizes[b"one"] + sizes[b"two"]
    await fs.snapshots.delete(a.id)
    cap = store.capacity()
    assert cap.used_bytes == used0 - predicted
    assert cap.dead_bytes == predicted
    stored_before = cap.stored_bytes
    store.seal_segment()  # the segment being appended to is never compacted
    store.compact(0.0)
    cap = store.capacity()
    assert cap.dead_bytes == 0
    assert cap.used_bytes == sizes[b"three"]
    assert cap.stored_bytes < stored_before
    assert fs.snapshots.held_bytes(fresh=True) == 0
    assert await fs.read(fs.lookup(ROOT_INODE, b"three", R).ino, 0, 10)  # type: ignore[union-attr]
    await fs.close()


async def test_statfs_keeps_the_reserve_out_of_the_live_size(store: Store) -> None:
    fs = Filesystem.open(store)
    usable = 1000 * MiB
    assert fs.snapshots.live_capacity(usable, 600 * MiB) == (800 * MiB, 400 * MiB)
    ino = await write_file(fs, ROOT_INODE, b"f", os.urandom(MiB))
    await fs.snapshots.create()
    await fs.setattr(ino, AttrChanges(size=0), R)
    await fs.commit()
    assert fs.snapshots.held_bytes(fresh=True) == MiB
    # The held MiB lives in the reserve: one MiB less of it is kept back from live data.
    assert fs.snapshots.live_capacity(usable, 600 * MiB) == (800 * MiB, 401 * MiB)
    st = fs.statfs()
    cap = store.capacity()
    # The space reserve (nasfs.store.space) is out of the live size, too.
    live = cap.usable_bytes - cap.reserve_bytes
    assert st.blocks == (live - int(live * 0.2)) // 4096
    await fs.close()


async def test_a_full_volume_removes_oldest_unlocked_snapshots_not_live_data(
        store: Store) -> None:
    fs = Filesystem.open(store)
    removed_log: list[tuple[str, str]] = []
    fs.snapshots.on_removed.append(lambda info, why: removed_log.append((info.name, why)))
    ino = await write_file(fs, ROOT_INODE, b"f", b"")
    names = []
    for i in range(4):
        await fs.write(ino, 0, os.urandom(MiB))
        s = await fs.snapshots.create(name=f"s{i}")
        names.append(s.name)
        if i == 0:
            await fs.snapshots.set_locked(s.id, True)
    await fs.write(ino, 0, os.urandom(MiB))
    await fs.commit()
    live_before = await fs.read(ino, 0, MiB)
    # Pretend the volume is full and the reserve is tiny: held data outgrew it.
    fs.snapshots.full_fraction = 2.0
    fs.snapshots.reserve_fraction = 0.0
    removed = await fs.snapshots.reclaim_space()
    assert [r.name for r in removed] == ["s1", "s2", "s3"]
    assert removed_log == [("s1", "space"), ("s2", "space"), ("s3", "space")]
    assert [s.name for s in fs.snapshots.list()] == ["s0"]  # locked: kept
    assert await fs.read(ino, 0, MiB) == live_before
    assert refs_agree(fs)
    await fs.close()
