"""Control methods `log.*` (query, verify, export), and the daemon's periodic log jobs: the
daily CSV export with pruning, and refreshing lagging copies of the policy databases.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.control import MethodTable, Request
from nasfs.daemon.methods.users import policy_handler
from nasfs.policy.daily import run_daily

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)

METHODS = ("log.query", "log.verify", "log.export")
DAILY_INTERVAL_S = 3600.0  # checks hourly whether a finished day is still to be exported
REFRESH_INTERVAL_S = 60.0
# Queries wait (at most this long) for rows recorded before them to be written: the writer
# batches for up to 50 ms (nasfs.policy.auditlog), and a query should see what was done.
FLUSH_WAIT_S = 2.0


def register(table: MethodTable, daemon: DaemonHost) -> None:
    service = daemon.array.policy
    for method in METHODS:
        table.add(method, _after_pending_rows(daemon, method))

    async def daily() -> None:
        await trio.to_thread.run_sync(run_daily, service)

    async def refresh() -> None:
        await trio.to_thread.run_sync(service.refresh_lagging)

    daemon.jobs.add("log-daily", DAILY_INTERVAL_S, daily)
    daemon.jobs.add("policy-db-refresh", REFRESH_INTERVAL_S, refresh)


def _after_pending_rows(daemon: DaemonHost, method: str) -> Callable[[Request], Awaitable[Any]]:
    """`method`'s policy handler, run once the access-log writer has written what was
    recorded before the request (bounded by FLUSH_WAIT_S under a continuous stream)."""
    handler = policy_handler(daemon, method)

    async def flushed_first(request: Request) -> Any:
        audit = daemon.policy.audit
        if audit is not None:
            with trio.move_on_after(FLUSH_WAIT_S):
                await audit.wait_idle()
        return await handler(request)

    return flushed_first
