"""The gate's inode map (inode -> share, parent, name) holds only inodes the kernel references:
listing a big folder without the kernel taking the entries (a reply buffer that fills up, a
listing abandoned half way) does not grow it, taken entries stay until the kernel forgets
them. In-process on a real store, filesystem and policy database, calling the gate as the
FUSE adapter does (readdir batches, `listed` for each entry the kernel took, `forget`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nasfs.fs import ROOT_INODE
from nasfs.policy.gate import Gate, Listed
from nasfs.policy.service import PolicyService
from tests.gate_util import ALICE, add_user, open_gate, share_for_everyone

FILES = 1500


def _office(policy: PolicyService) -> None:
    add_user(policy, "alice", 2001)
    share_for_everyone(policy, "docs")


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    async with open_gate(tmp_path, _office) as g:
        yield g


async def big_folder(gate: Gate) -> int:
    """A folder `docs/big` with FILES files, none of them referenced by the kernel."""
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    big = await gate.mkdir(docs.ino, b"big", 0o755, ALICE)
    for i in range(FILES):
        fh, a = await gate.create(big.ino, b"f%05d" % i, 0o644, os.O_WRONLY, ALICE)
        await gate.release(fh)
        gate.forget([(a.ino, 1)])  # the kernel dropped the file from its cache
    assert len(gate.nodes) < 10
    return big.ino


def list_all(gate: Gate, fh: int, take: int) -> list[Listed]:
    """Read a whole listing; the kernel takes the first `take` entries of each batch."""
    seen: list[Listed] = []
    after = 0
    while batch := gate.readdir(fh, after):
        taken = batch[:take] if take else batch
        for item in taken:
            gate.listed(fh, item)
        seen += taken
        after = taken[-1].offset if take else batch[-1].offset
    return seen


async def test_listings_the_kernel_does_not_take_leave_the_map_alone(gate: Gate) -> None:
    big = await big_folder(gate)
    before = len(gate.nodes)

    # Untaken batches (as if every reply buffer were full after zero entries, or `ls` were
    # interrupted): nothing is kept, however often the folder is listed.
    for _ in range(3):
        fh = await gate.opendir(big, ALICE)
        after = 0
        while batch := gate.readdir(fh, after):
            after = batch[-1].offset
        gate.releasedir(fh)
    assert len(gate.nodes) == before

    # The kernel takes 10 entries of each batch: exactly those are mapped, and each is
    # judged as part of `docs` (the share a later open is checked against).
    fh = await gate.opendir(big, ALICE)
    taken = list_all(gate, fh, take=10)
    gate.releasedir(fh)
    assert len(taken) == FILES
    assert len(gate.nodes) == before + FILES
    node = gate.nodes[taken[-1].attrs.ino]
    assert (node.share, node.parent, node.name) == ("docs", big, taken[-1].name)
    fh = await gate.open(taken[-1].attrs.ino, os.O_RDONLY, ALICE)
    await gate.release(fh)

    # ... and they go when the kernel forgets them.
    gate.forget([(item.attrs.ino, 1) for item in taken])
    assert len(gate.nodes) == before


async def test_an_abandoned_listing_keeps_at_most_one_batch_with_its_handle(gate: Gate) -> None:
    big = await big_folder(gate)
    fh = await gate.opendir(big, ALICE)
    first = gate.readdir(fh, 0)
    gate.listed(fh, first[0])
    second = gate.readdir(fh, first[0].offset)  # the kernel asks for more, then stops
    pending = gate.handles[fh].pending
    assert pending is not None and 0 < len(pending) <= len(second)
    gate.releasedir(fh)
    assert set(gate.nodes) >= {first[0].attrs.ino}
    assert first[1].attrs.ino not in gate.nodes
