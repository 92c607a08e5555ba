"""Fire times of scheduled verifies and of the digest, kept in policy.db (`backup_fire`,
migration m007) so they outlive the daemon: a fire time that passed while the daemon was
down is made up once when it is back (not once per missed time); the first look at a
schedule (new, or changed) does not fire for the past. Blocking (a worker thread).

Names: `verify/JOB` (`repository.VERIFY` + the job's name) and `digest`; `digest-sent`
holds when the last digest was sent (its schedule empty), where the next one's period
starts."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from nasfs.backup import verify_schedule
from nasfs.backup.repository import JobRepository

DIGEST = "digest"
DIGEST_SENT = "digest-sent"  # when the last digest was sent: the next one's period starts


def due(repo: JobRepository, schedules: Mapping[str, str | None], now: float,
        family: Callable[[str], bool]) -> tuple[list[str], dict[str, float]]:
    """Names of `schedules` (name → cron or None) whose fire time passed since the one last
    handled, and the fire times handled before this look. The newest fire times are
    stored; a stored name of `family` that `schedules` no longer has a cron for is
    forgotten, and so is one stored for another cron than the name's present one."""
    stored = repo.fire_times()
    fired = {n: t for n, (cron, t) in stored.items()
             if schedules.get(n) is not None and schedules[n] == cron}
    before = dict(fired)
    out = verify_schedule.due(schedules, fired, now)
    changed = {n: (str(schedules[n]), t) for n, t in fired.items() if before.get(n) != t}
    gone = {n for n in stored if family(n) and n not in fired}
    repo.set_fire_times(changed, gone - set(changed))
    return out, before
