"""Group commit of puts (nasfs.store.put_commit): puts whose shards are durable at the same
time share one durable catalog commit, and each returns only once its rows are committed.

Real store on four member directories. The first put to reach the commit is held
there (a wrapper around the real commit) until the other two have queued behind it; once
it is let go, it commits alone and the second commit takes both queued puts.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from nasfs.store import Store
from tests import fs_util

members, store = fs_util.members, fs_util.store

CHUNK = 1 << 20
HANG_GUARD_S = 120.0


def chunk(n: int) -> bytes:
    return bytes((i * 13 + n) % 251 for i in range(CHUNK))


def test_puts_that_finish_together_share_one_durable_commit(
    store: Store, members: list[Path]
) -> None:
    contents = [chunk(n) for n in range(3)]
    ids: dict[int, list[bytes]] = {}

    def put(n: int) -> None:
        ids[n] = store.put([contents[n]])

    committer = store._committer
    real_commit = committer._commit
    let_go = threading.Event()
    first = threading.Event()

    def held_commit(batch: list[Any]) -> None:
        if not first.is_set():
            first.set()
            let_go.wait(HANG_GUARD_S)  # the first leader waits before its commit
        real_commit(batch)

    committer._commit = held_commit  # type: ignore[method-assign]
    threads = [threading.Thread(target=put, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + HANG_GUARD_S
    while len(committer._queue) < 2:  # the other two finished their shards and queued
        assert time.monotonic() < deadline, "the puts never reached the commit"
        time.sleep(0.01)
    assert first.is_set() and committer.commits == 0
    let_go.set()
    for t in threads:
        t.join(HANG_GUARD_S)
    assert (committer.commits, committer.puts) == (2, 3)
    for n in range(3):
        assert store.refcount(ids[n][0]) == 1
    store.close()
    with Store.open(members) as again:  # durable: there after a reopen
        for n in range(3):
            assert again.get(ids[n][0]) == contents[n]
