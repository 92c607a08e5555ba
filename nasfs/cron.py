"""Five-field cron expressions evaluated in UTC: the one parser and evaluator of every
schedule (snapshot schedules, the scrub schedule, settings that hold a schedule). A base
module: the policy layer validates settings with it, the snapshot and daemon layers run
schedules by it.
"""

from __future__ import annotations

import datetime

from croniter import croniter

from nasfs.errors import NasfsError
from nasfs.wire import codes


class InvalidSchedule(NasfsError):
    """A schedule with a bad cron expression or retention value."""

    wire_code = codes.INVALID_SCHEDULE
    exit_code = 2


def check_cron(cron: str) -> str:
    cron = " ".join(cron.split())
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidSchedule(f"{cron!r} is not a five-field cron expression "
                              "(minute hour day-of-month month day-of-week)")
    return cron


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def previous_fire(cron: str, at_s: float) -> float:
    """The latest fire time at or before `at_s` (seconds, UTC)."""
    it = croniter(cron, _utc(at_s + 1))
    return float(it.get_prev(float))


def next_fire(cron: str, after_s: float) -> float:
    """The first fire time after `after_s`."""
    return float(croniter(cron, _utc(after_s)).get_next(float))
