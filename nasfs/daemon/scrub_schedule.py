"""The scheduled scrub: a periodic daemon job that starts the whole scrub (data, parity,
every metadata copy; nasfs.daemon.scrubjob) at the times the `scrub.schedule` setting names.

`scrub.schedule` is a five-field cron expression evaluated in UTC, parsed and evaluated by
the same code as snapshot schedules (nasfs.snapshots.schedule); the default runs monthly,
as NAS vendors ship it. The last fire time handled is kept in the store catalog (state
`scrub_schedule`), so a daemon restart neither repeats a scrub nor forgets one; a fire time
missed while the daemon was down is caught up once at the next tick, and a schedule seen
for the first time (or changed) does not fire for times before it was seen. A fire time
that finds a scrub or rebuild already running counts as done. The result is noted as
`scrub-finished` (or `scrub-failed`) like a scrub asked for by hand, and so mailed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from nasfs.cron import previous_fire
from nasfs.daemon.jobrun import run_scrub

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)

INTERVAL_S = 60.0  # how often the job looks whether a fire time has passed
STATE_KEY = "scrub_schedule"


def _state(daemon: DaemonHost) -> Any:
    return daemon.store.upkeep.state(STATE_KEY)


def _set_state(daemon: DaemonHost, value: dict[str, Any]) -> None:
    daemon.store.upkeep.set_state(STATE_KEY, value)


async def run_due(daemon: DaemonHost) -> bool:
    """Start the scrub if a fire time has passed since the last one handled; whether it ran."""
    policy = daemon.policy
    cron = str(policy.setting("scrub.schedule") or "")
    if not cron:
        return False  # the administrator turned the schedule off
    latest = previous_fire(cron, policy.clock.now())
    state = await trio.to_thread.run_sync(_state, daemon)
    if not isinstance(state, dict) or state.get("cron") != cron:
        await trio.to_thread.run_sync(_set_state, daemon, {"cron": cron, "last_fire": latest})
        return False
    if latest <= float(state.get("last_fire", 0)):
        return False
    # Recorded before the scrub starts: a scrub that fails or is cancelled is not retried
    # every minute (`nasfs scrub --resume` goes on with it).
    await trio.to_thread.run_sync(_set_state, daemon, {"cron": cron, "last_fire": latest})
    if daemon.job_lock.locked():
        daemon.note("daemon", "scrub-skipped", f"scheduled scrub not started: a "
                    f"{daemon.running_job or 'maintenance job'} is running")
        return False
    await run_scrub(daemon, None)
    return True


def register(daemon: DaemonHost) -> None:
    async def tick() -> None:
        await run_due(daemon)

    daemon.jobs.add("scrub-schedule", INTERVAL_S, tick)
