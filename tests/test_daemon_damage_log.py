"""Damage a read finds is a system-log row and a per-disk error count in the daemon.

A daemon runs in the test's trio loop over real member directories; reads go to its store
the way the filesystem's do (in a worker thread), after shard bytes were overwritten.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio

from nasfs.config import Config
from nasfs.store import ChunkLostError, Store
from nasfs.store.disks import disk_name
from nasfs.store.geometry import chunk_pieces, shard_member
from nasfs.store.segments import segment_path
from tests.mail_util import daemon_running, run_dir  # noqa: F401 - fixture
from tests.store_util import SMALL, make_members


def _wreck(members: list[Path], cid: bytes, shards: range) -> list[int]:
    with Store.open(members) as store:
        found = store.catalog.lookup(cid)
    assert found is not None
    _, stripe = found
    rng = random.Random(4)
    hit = []
    for j in shards:
        member = shard_member(stripe.first_member, j, len(members))
        with open(segment_path(members[member], stripe.segment), "r+b") as fh:
            fh.seek(stripe.offset)
            fh.write(rng.randbytes(stripe.shard_size))
        hit.append(member)
    return hit


def _holders(members: list[Path], cid: bytes) -> list[int]:
    with Store.open(members) as store:
        found = store.catalog.lookup(cid)
    assert found is not None
    chunk, stripe = found
    return [shard_member(stripe.first_member, p.shard, len(members))
            for p in chunk_pieces(chunk.offset, chunk.length, stripe.shard_size)]


async def test_a_healed_read_and_a_lost_chunk_are_logged_and_counted(
    tmp_path: Path, run_dir: Path  # noqa: F811 - fixture
) -> None:
    members = make_members(tmp_path, 4, "disk")
    Store.create(members, 1, **SMALL)
    rng = random.Random(2)
    with Store.open(members) as store:
        healed, lost = store.put([rng.randbytes(40_000)]), store.put([rng.randbytes(150_000)])
    (healed_member,) = _wreck(members, healed[0], range(1))
    lost_members = _wreck(members, lost[0], range(2))
    async for running in daemon_running(Config(members=tuple(members), run_dir=run_dir)):
        store = running.daemon.store
        await trio.to_thread.run_sync(store.get, healed[0])
        with pytest.raises(ChunkLostError):
            await trio.to_thread.run_sync(store.get, lost[0])
        repaired = await running.system_rows("store.repaired")
        read_errors = await running.system_rows("store.read-error")
        unrecoverable = await running.system_rows("store.unrecoverable")
        status = await running.call(lambda c: c.status())
    assert [r["result"] for r in repaired] == ["OK"]
    assert repaired[0]["detail"].startswith(f"{disk_name(healed_member)} (")
    # Parity cannot say which of the disks holding the chunk's bytes is wrong: each is told.
    blamed = {int(r["detail"].split()[1]) - 1 for r in read_errors}  # "disk N (...)"
    assert set(lost_members) <= blamed <= set(_holders(members, lost[0]))
    assert all(r["result"] == "EIO" and "data lost" in r["detail"] for r in read_errors)
    assert len(unrecoverable) == 1 and lost[0].hex()[:16] in unrecoverable[0]["detail"]
    counts = {m.index: (m.read_errors, m.repaired) for m in status.members}
    assert counts[healed_member] == (0, 1)
    for m in blamed:
        assert counts[m] == (1, 0)
