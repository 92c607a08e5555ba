"""Group commit of puts into the catalog: puts that finish their shards at once share one
durable commit.

Several puts are in flight at once (two batches of a file, several files). Each used to
commit the catalog on its own under the store's lock, one after another, each with the
WAL fsync of every catalog copy; with four writers those commits took half the wall time.
Now a put whose shards are durable queues its rows here; if no commit is running it
becomes the leader and commits, under the store's lock, every put queued by then in one
transaction (`Catalog.record_puts`); the others wait for the leader's result. A put
returns only after the commit that holds its rows is durable, and an error of that
commit fails every put in it (each then fails as a put does: nothing of it referenced).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from nasfs.store.catalog import Catalog, ChunkVanished, PutRows


@dataclass
class _Queued:
    rows: PutRows
    done: bool = False
    recorded: bool = False
    error: BaseException | None = None


class PutCommitter:
    """Commits queued puts' rows, several per durable commit."""

    def __init__(self, store_lock: threading.RLock, catalog: Callable[[], Catalog],
                 check_open: Callable[[], None], nparity: int) -> None:
        self._store_lock = store_lock
        self._catalog = catalog  # the store's current catalog (reopened on rebuild)
        self._check_open = check_open
        self._nparity = nparity
        self._cv = threading.Condition()
        self._queue: list[_Queued] = []
        self._committing = False
        self.commits = 0  # durable commits made (counted for the profile)
        self.puts = 0  # puts recorded by them

    def commit(self, rows: PutRows) -> None:
        """Record one put's rows durably; ChunkVanished if it must store a chunk anew."""
        mine = _Queued(rows)
        with self._cv:
            self._queue.append(mine)
            while not mine.done:
                if self._committing:
                    self._cv.wait()
                    continue
                self._committing = True
                batch, self._queue = self._queue, []
                self._cv.release()
                try:
                    self._commit(batch)
                finally:
                    self._cv.acquire()
                    self._committing = False
                    self._cv.notify_all()
        if mine.error is not None:
            raise mine.error
        if not mine.recorded:
            raise ChunkVanished()

    def _commit(self, batch: list[_Queued]) -> None:
        try:
            with self._store_lock:
                self._check_open()
                recorded = self._catalog().record_puts([q.rows for q in batch], self._nparity)
        except BaseException as exc:
            for q in batch:
                q.error = exc
                q.done = True
            return
        self.commits += 1
        self.puts += sum(recorded)
        for q, ok in zip(batch, recorded, strict=True):
            q.recorded = ok
            q.done = True
