"""Control methods `log.*` (query, verify, export), and the daemon's periodic log jobs: the
daily CSV export with pruning, and refreshing lagging copies of the policy databases.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from nasfs.daemon.control import MethodTable
from nasfs.daemon.methods.users import register_policy_methods

if TYPE_CHECKING:
    from nasfs.daemon.service import Daemon

log = logging.getLogger(__name__)

METHODS = ("log.query", "log.verify", "log.export")
DAILY_INTERVAL_S = 3600.0  # checks hourly whether a finished day is still to be exported
REFRESH_INTERVAL_S = 60.0


def register(table: MethodTable, daemon: Daemon) -> None:
    from nasfs.policy.daily import run_daily

    register_policy_methods(table, daemon, METHODS)

    async def daily() -> None:
        service = getattr(daemon, "policy", None)
        if service is not None:
            await trio.to_thread.run_sync(run_daily, service)

    async def refresh() -> None:
        service = getattr(daemon, "policy", None)
        if service is not None:
            await trio.to_thread.run_sync(service.refresh_lagging)

    daemon.jobs.add("log-daily", DAILY_INTERVAL_S, daily)
    daemon.jobs.add("policy-db-refresh", REFRESH_INTERVAL_S, refresh)
