"""A commit that fails puts the whole filesystem back to what is on disk: a snapshot it
would have taken, a trash purge it would have made (whose chunks must not be released),
the live generation; repeated failures turn it read-only until a retry commits.

The filesystem runs in-process on a store over tiny real tmpfs members, which a filler
file fills to the last byte so that the metadata really cannot grow.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.clock import ManualClock
from nasfs.fs import Filesystem, errors
from nasfs.fs.failsafe import FAILSAFE_AFTER
from nasfs.fs.filesystem import ROOT_CALLER
from nasfs.fs.schema import ROOT_INODE
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS, Trash
from nasfs.trash.service import Deleter
from tests.space_util import fill_disk, tmpfs_members


@pytest.fixture
def members(tmp_path: Path) -> Iterator[list[Path]]:
    with tmpfs_members(tmp_path, [16] * 3) as dirs:
        Store.create(dirs, 1)
        yield dirs


def _open(store: Store) -> tuple[Filesystem, Trash]:
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    return fs, Trash(fs, ManualClock())


async def _file(fs: Filesystem, name: bytes, data: bytes) -> int:
    a = fs.create(ROOT_INODE, name, 0o644, ROOT_CALLER)
    await fs.write(a.ino, 0, data)
    await fs.release(a.ino)
    fs.forget(a.ino, 1)
    return a.ino


async def test_a_failed_commit_undoes_snapshot_and_purge_then_read_only(
        members: list[Path]) -> None:
    data = os.urandom(300_000)
    with Store.open(members) as store:
        fs, trash = _open(store)
        ino = await _file(fs, b"doomed", data)
        await _file(fs, b"other", b"other")
        item = trash.move_in(ROOT_INODE, b"doomed", "docs", b"/doomed", Deleter(None, 0),
                             "unlink")
        await fs.commit()
        await fs.close()
        # Reopened: a short database log, which the next commit must grow.
        fs, trash = _open(store)
        generation = fs.repo.generation
        fillers = [fill_disk(m) for m in members]

        # A snapshot whose commit fails is not there, and the generation is as on disk.
        with pytest.raises(errors.CommitFailed) as caught:
            await fs.snapshots.create("s1")
        assert caught.value.errno == errno.ENOSPC
        assert fs.snapshots.list(sizes=False) == []
        assert fs.repo.generation == generation

        # A purge whose commit fails: the item is still in the trash, its data readable,
        # and none of its chunks is released.
        trash.purge(item.id)
        with pytest.raises(errors.CommitFailed):
            await fs.commit()
        assert [i.id for i in trash.items()] == [item.id]
        assert fs.data.release_after_commit == []
        assert await fs.read(ino, 0, len(data)) == data

        # Failing again and again: read-only; every change refused, reads go on.
        for _ in range(FAILSAFE_AFTER - 2):
            fs.rename(ROOT_INODE, b"other", ROOT_INODE, b"renamed", 0, ROOT_CALLER)
            with pytest.raises(errors.CommitFailed):
                await fs.commit()
        assert fs.failsafe.read_only and "full" in (fs.failsafe.reason or "")
        with pytest.raises(errors.ReadOnly):
            fs.rename(ROOT_INODE, b"other", ROOT_INODE, b"renamed", 0, ROOT_CALLER)
        with pytest.raises(errors.ReadOnly):
            trash.purge(item.id)
        with pytest.raises(errors.ReadOnly):
            await fs.snapshots.create("s2")
        assert fs.repo.lookup(ROOT_INODE, b"other") is not None
        assert await fs.read(ino, 0, len(data)) == data

        # Still full: the retry fails and changes nothing.
        with pytest.raises(errors.CommitFailed):
            await fs.retry_writes()
        assert fs.failsafe.read_only
        # Room again: the retry commits, and changes are taken and kept.
        for filler in fillers:
            filler.unlink()
        await fs.retry_writes()
        assert not fs.failsafe.read_only
        trash.purge(item.id)
        await fs.snapshots.create("s3")
        await fs.commit()
        await fs.close()

        fs, trash = _open(store)
        assert trash.items() == []
        assert [s.name for s in fs.snapshots.list(sizes=False)] == ["s3"]
        assert fs.repo.lookup(ROOT_INODE, b"other") is not None
        await fs.close()
