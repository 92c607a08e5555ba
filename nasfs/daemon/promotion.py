"""Replica promotion of the filesystem's database, off the trio thread.

Why: after a member is lost, the replicated database (nasfs.db.replicated) promotes a
lagging copy to keep its synchronous count, by copying the whole database. fs.db is used
on the trio thread, so a promotion inside its commit would stall every FUSE request for as
long as the copy takes. The daemon turns that off (`promote_in_commit = False`) and runs
this task instead: the copy is made by `refresh_lagging` in a worker thread (its own
connection, a consistent snapshot), and the copy joins the synchronous set on the trio
thread only if it holds the last commit (a cheap check). A copy that keeps falling behind
a busy filesystem is promoted the old way after a few tries, so the count is restored.

Until then commits reach one copy fewer. Safe for the array's promise: a copy is dropped
because its member failed (one of the `nparity` losses the array survives, so one copy
fewer is enough for the rest), or because it was found damaged (then for seconds only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from nasfs.db import ReplicatedDB

log = logging.getLogger(__name__)

CHECK_S = 1.0  # how often the task looks whether the synchronous count is short
TRIES = 5  # worker copies that may fall behind before a copy is made on the trio thread


async def keep_sync_count(current: Callable[[], ReplicatedDB | None], *,
                          check_s: float = CHECK_S,
                          task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
                          ) -> None:
    """Promote lagging copies of the database `current()` names (owned by the trio
    thread; None once it is closing) until cancelled."""
    db = current()
    if db is not None:
        db.promote_in_commit = False
    task_status.started()
    while True:
        await trio.sleep(check_s)
        db = current()
        if db is None:
            return
        if db.sync_short:
            await promote(db, current)


async def promote(db: ReplicatedDB, current: Callable[[], ReplicatedDB | None]) -> None:
    """One round: refresh in a worker, join what is current; after TRIES, copy here."""
    for _ in range(TRIES):
        await trio.to_thread.run_sync(db.refresh_lagging)
        if current() is not db:
            return  # closed meanwhile: close refreshes the copies itself
        db.join_current_lagging()
        if not db.sync_short:
            return
    log.warning("%s database: a lagging copy kept falling behind; promoting it on the "
                "event loop", db.name)
    db.keep_sync_count()
