"""The array the filesystem tests run on: four member directories with single parity, the
store opened on them and a filesystem on that store (each closed at teardown), and what a
file's committed rows say.

pytest finds fixtures among a module's names, so a test module binds them by name:
`members, store = fs_util.members, fs_util.store` (an import would read as unused), and
`fs` with both of those, which it is built on. For the flush-behind tests: a record-sized
payload and the group commit started in a test's nursery."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from nasfs.fs import Filesystem
from nasfs.store import Store

RECORD = 1 << 20  # a flush batch of one record in the flush-behind tests
HANG_GUARD_S = 120.0  # a regression would hang, not fail: end it with an error instead


@pytest.fixture
def members(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path / f"m{i}" for i in range(4)]
    for d in dirs:
        d.mkdir()
    Store.create(dirs, 1)
    return dirs


@pytest.fixture
def store(members: list[Path]) -> Iterator[Store]:
    s = Store.open(members)
    yield s
    s.close()


@pytest.fixture
async def fs(store: Store) -> AsyncIterator[Filesystem]:
    f = Filesystem.open(store)
    try:
        yield f
    finally:
        await f.close()


def committed(members: list[Path], ino: int) -> tuple[int, int]:
    """(size, bytes named by live extent rows) of `ino` as committed on the primary copy."""
    paths = [m / "nasfs" / "db" / "fs.db" for m in members]
    conn = sqlite3.connect(f"file:{paths[0]}?mode=ro", uri=True)
    try:
        size = conn.execute("SELECT size FROM inode WHERE id = ? AND died IS NULL",
                            (ino,)).fetchone()
        covered = conn.execute(
            "SELECT COALESCE(SUM(length), 0) FROM extent WHERE ino = ? AND died IS NULL",
            (ino,)).fetchone()
    finally:
        conn.close()
    return (0 if size is None else int(size[0])), int(covered[0])


def payload(n: int, size: int = RECORD) -> bytes:
    """`size` bytes that differ for each `n` (a held put tells batches apart by them)."""
    return bytes((i * 7 + n) % 251 for i in range(size))


async def start_group_commit(nursery: trio.Nursery, fs: Filesystem) -> None:
    """Start the group commit and return once its nursery takes background flushes."""
    nursery.start_soon(fs.run_group_commit)
    while fs._background is None:
        await trio.sleep(0)
