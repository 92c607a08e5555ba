"""A scheduled job that has not succeeded for longer than its schedule allows: two fire
times have passed since its last success (or since it was added) and an hour more, so one
failed or missed run is not yet a notice, the second is."""

from __future__ import annotations

from nasfs.cron import next_fire

GRACE_S = 3600.0  # a run may take a while after its fire time


def overdue(cron: str, last_success_s: float | None, added_s: float, now_s: float) -> bool:
    since = last_success_s if last_success_s is not None else added_s
    second = next_fire(cron, next_fire(cron, since))
    return now_s > second + GRACE_S
