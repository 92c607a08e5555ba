"""Which jobs' scheduled verify is due (the job option `verify_schedule`, five-field cron in
UTC): a fire time passed since the one last handled. Kept in memory by the service, so a
verify due while the daemon was down is not made up, and the first look at a schedule (a
new one, or the daemon just started) does not fire for the past. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping

from nasfs.cron import previous_fire


def due(schedules: Mapping[str, str | None], fired: dict[str, float], now: float) -> list[str]:
    """Jobs (of `schedules`: name → cron or None) to verify now; `fired` (name → newest fire
    time handled) is brought up to date."""
    out = []
    for name in [n for n in fired if schedules.get(n) is None]:
        del fired[name]  # schedule removed (or job gone): a new one starts afresh
    for name, schedule in schedules.items():
        if schedule is None:
            continue
        latest = previous_fire(schedule, now)
        last = fired.get(name)
        fired[name] = latest
        if last is not None and latest > last:
            out.append(name)
    return out
