"""What the kernel may cache of a readdirplus entry: exactly what it may cache of the same
entry looked up. Entries inside a share keep the ordinary timeouts (so a walk after a
listing does not look every file up again); the top level, home folders in a homes share and
`#trash` entries stay volatile (zero entry timeout), so every path walk through them still
asks the gate as the walker. In-process on a real store, filesystem and policy database,
through the FUSE adapter's own entry conversion."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nasfs.fs import ROOT_INODE, Attributes, Caller
from nasfs.fuse.operations import Operations
from nasfs.policy.gate import Gate
from nasfs.policy.gate.handles import Listed
from nasfs.policy.gate.nodemap import Node
from nasfs.policy.gate.timeouts import CONTENT, ORDINARY, VOLATILE
from nasfs.policy.service import PolicyService
from nasfs.policy.snapshot_state import export
from tests.gate_util import ALICE, add_user, open_gate, share_for_everyone

ADMIN = Caller(0, 0, pid=os.getpid())


def _office(policy: PolicyService) -> None:
    add_user(policy, "alice", 2001)
    share_for_everyone(policy, "docs")
    share_for_everyone(policy, "homes", homes=True)


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    async with open_gate(tmp_path, _office) as g:
        yield g


async def listing(ops: Operations, ino: int, caller: Caller) -> dict[bytes, tuple[float, float]]:
    """(entry, attribute) timeouts of every entry of `ino`'s listing, as the adapter replies
    them (before the kernel takes the entry, as in a readdirplus reply)."""
    gate = ops.gate
    fh = await gate.opendir(ino, caller)
    out: dict[bytes, tuple[float, float]] = {}
    after = 0
    while batch := gate.readdir(fh, after):
        for item in batch:
            e = ops._entry(item.attrs, item.timeouts)
            out[item.name] = (e.entry_timeout, e.attr_timeout)
            gate.listed(fh, item)
        after = batch[-1].offset
    gate.releasedir(fh)
    return out


async def folder_of_files(gate: Gate, count: int, *,
                          forgotten: bool = False) -> tuple[Attributes, Attributes]:
    """`docs/sub` with the files f0, f1, ... made by alice: (docs, sub). `forgotten`: the
    kernel has forgotten the files and `sub` since."""
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    sub = await gate.mkdir(docs.ino, b"sub", 0o755, ALICE)
    for i in range(count):
        fh, a = await gate.create(sub.ino, b"f%d" % i, 0o644, os.O_WRONLY, ALICE)
        await gate.release(fh)
        if forgotten:
            gate.forget([(a.ino, 1)])
    if forgotten:
        gate.forget([(sub.ino, 1)])
    return docs, sub


async def test_listed_entries_inside_a_share_are_cached_like_looked_up_ones(gate: Gate) -> None:
    ops = Operations(gate)
    # The kernel dropped them: a fresh listing maps them.
    docs, sub = await folder_of_files(gate, 5, forgotten=True)

    in_share = await listing(ops, docs.ino, ALICE)
    assert in_share[b"sub"] == ORDINARY
    in_sub = await listing(ops, sub.ino, ALICE)
    assert set(in_sub) == {b"f%d" % i for i in range(5)}
    assert all(t == ORDINARY for t in in_sub.values())
    # The same as a lookup of the same names gives.
    for name, timeouts in in_sub.items():
        found = await gate.lookup(sub.ino, name, ALICE)
        assert found is not None
        assert gate.timeouts(found.ino) == timeouts


async def test_top_level_and_home_folders_stay_volatile_when_listed(gate: Gate) -> None:
    ops = Operations(gate)
    top = await listing(ops, ROOT_INODE, ADMIN)
    assert top[b"docs"] == VOLATILE and top[b"homes"] == VOLATILE
    homes = await gate.lookup(ROOT_INODE, b"homes", ALICE)
    assert homes is not None
    mine = await gate.lookup(homes.ino, b"alice", ALICE)  # made on first use
    assert mine is not None
    gate.forget([(mine.ino, 1)])
    in_homes = await listing(ops, homes.ino, ALICE)
    assert in_homes[b"alice"] == VOLATILE
    fh, _ = await gate.create(mine.ino, b"notes", 0o644, os.O_WRONLY, ALICE)
    await gate.release(fh)
    in_home = await listing(ops, mine.ino, ALICE)
    assert in_home[b"notes"] == ORDINARY
    # The share folder's own `#trash` entry is the trash namespace's: volatile as looked up.
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    in_docs = await listing(ops, docs.ino, ALICE)
    assert in_docs[b"#trash"] == VOLATILE


async def test_listed_blocks_are_the_entries_own_in_one_query(gate: Gate) -> None:
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    sub = await gate.mkdir(docs.ino, b"blocks", 0o755, ALICE)
    await gate.mkdir(sub.ino, b"folder", 0o755, ALICE)
    rs = gate.fs.data.record_size
    for name, writes in ((b"empty", []), (b"small", [(0, 100)]),
                         (b"sparse", [(0, 10), (3 * rs, rs)]), (b"buffered", [(rs, 5000)])):
        fh, a = await gate.create(sub.ino, name, 0o644, os.O_WRONLY, ALICE)
        for off, n in writes:
            await gate.write(fh, off, os.urandom(n))
        if name != b"buffered":
            await gate.fs.data.flush([a.ino])  # stored; "buffered" keeps a dirty record
        await gate.release(fh)
    fh = await gate.opendir(sub.ino, ALICE)
    ran: list[str] = []
    conn = gate.fs.db.conn  # type: ignore[attr-defined]
    conn.set_trace_callback(ran.append)
    try:
        batch = gate.readdir(fh, 0)
    finally:
        conn.set_trace_callback(None)
    gate.releasedir(fh)
    assert {item.name for item in batch} == {b"folder", b"empty", b"small", b"sparse",
                                             b"buffered"}
    # One statement for the batch's entries, attributes and stored records, none per file
    # (the buffered file's dirty record still checks what it replaces, as for any reply).
    listings = [s for s in ran if "FROM dentry d JOIN inode i" in s]
    assert len(listings) == 1 and "FROM extent e" in listings[0]
    assert not any("coalesce(sum((length" in s for s in ran)
    assert [s for s in ran if s not in listings] == [
        s for s in ran if s.startswith("SELECT idx, chunk, length FROM extent")]
    for item in batch:
        assert item.blocks == gate.blocks(item.attrs), item.name
    by_name = {item.name: item.blocks for item in batch}
    assert by_name[b"empty"] == 0 and by_name[b"sparse"] == (10 + 511) // 512 + rs // 512


async def take_listing(gate: Gate, ino: int, caller: Caller) -> tuple[list[Listed], int]:
    """A whole listing of `ino` as the adapter takes it (every batch handed to the kernel),
    and how many entries were still pending a node when their batch was built."""
    fh = await gate.opendir(ino, caller)
    out: list[Listed] = []
    pending = 0
    after = 0
    while batch := gate.readdir(fh, after):
        pending += len(gate.handles[fh].pending)  # type: ignore[union-attr]
        gate.listed_batch(fh, batch)
        out += batch
        after = batch[-1].offset
    gate.releasedir(fh)
    return out, pending


async def test_a_folder_listed_again_maps_its_entries_once(gate: Gate) -> None:
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    sub = await gate.mkdir(docs.ino, b"many", 0o755, ALICE)
    names = [b"f%03d" % i for i in range(300)]  # more than one batch of 256
    for name in names:
        fh, a = await gate.create(sub.ino, name, 0o644, os.O_WRONLY, ALICE)
        await gate.write(fh, 0, b"x" * 100)
        await gate.release(fh)
        gate.forget([(a.ino, 1)])
    await gate.fs.data.flush(list(gate.fs.data.files))
    ran: list[str] = []
    conn = gate.fs.db.conn  # type: ignore[attr-defined]
    conn.set_trace_callback(ran.append)
    try:
        first, pending_first = await take_listing(gate, sub.ino, ALICE)
    finally:
        conn.set_trace_callback(None)
    assert [item.name for item in first] == names
    # Two batches, one statement each (the offset past the end asks once more).
    assert sum("FROM dentry d JOIN inode i" in s for s in ran) == 3
    assert pending_first == len(names)  # none was mapped: each got its node
    for item in first:
        assert item.attrs == gate.fs.getattr(item.attrs.ino)
        assert item.timeouts == ORDINARY and item.blocks == 1
        assert gate.nodes[item.attrs.ino] == Node(sub.ino, item.name, "docs", None)
        assert gate.fs.lookup_count(item.attrs.ino) == 1
    again, pending_again = await take_listing(gate, sub.ino, ALICE)
    assert again == first
    assert pending_again == 0  # all mapped at that very place: nothing to keep pending
    assert all(gate.fs.lookup_count(item.attrs.ino) == 2 for item in again)


async def test_a_home_folder_listing_maps_its_entries_into_the_home(gate: Gate) -> None:
    homes = await gate.lookup(ROOT_INODE, b"homes", ALICE)
    assert homes is not None
    mine = await gate.lookup(homes.ino, b"alice", ALICE)
    assert mine is not None
    sub = await gate.mkdir(mine.ino, b"notes", 0o755, ALICE)
    fh, a = await gate.create(sub.ino, b"todo", 0o644, os.O_WRONLY, ALICE)
    await gate.release(fh)
    gate.forget([(a.ino, 1)])
    for folder in (mine, sub):
        listed, _ = await take_listing(gate, folder.ino, ALICE)
        assert listed and all(item.timeouts == ORDINARY for item in listed)
        for item in listed:
            node = gate.nodes[item.attrs.ino]
            assert (node.parent, node.share, node.home) == (folder.ino, "homes", "alice")


async def test_listed_snapshot_content_is_cached_like_looked_up_content(gate: Gate) -> None:
    """Inside `#snapshot/<name>/` a listed entry gets the content timeouts a lookup gives
    (zero ones made the kernel look every listed file up again: one request per file of a
    backup's rsync); the snapshots themselves and home folders stay volatile."""
    ops = Operations(gate)
    docs, _ = await folder_of_files(gate, 3)
    homes = await gate.lookup(ROOT_INODE, b"homes", ALICE)
    assert homes is not None
    assert await gate.lookup(homes.ino, b"alice", ALICE) is not None
    assert gate.policy is not None
    await gate.fs.snapshots.create("s", export(gate.policy.snapshot))
    folder = await gate.lookup(docs.ino, b"#snapshot", ALICE)
    assert folder is not None
    assert (await listing(ops, folder.ino, ALICE))[b"s"] == VOLATILE
    top = await gate.lookup(folder.ino, b"s", ALICE)
    assert top is not None
    assert (await listing(ops, top.ino, ALICE))[b"sub"] == CONTENT
    old_sub = await gate.lookup(top.ino, b"sub", ALICE)
    assert old_sub is not None
    in_sub = await listing(ops, old_sub.ino, ALICE)
    assert in_sub == {b"f%d" % i: CONTENT for i in range(3)}
    for name, timeouts in in_sub.items():
        found = await gate.lookup(old_sub.ino, name, ALICE)
        assert found is not None
        assert gate.timeouts(found.ino) == timeouts
    homes_then = await gate.lookup(homes.ino, b"#snapshot", ALICE)
    assert homes_then is not None
    homes_top = await gate.lookup(homes_then.ino, b"s", ALICE)
    assert homes_top is not None
    assert (await listing(ops, homes_top.ino, ALICE))[b"alice"] == VOLATILE
