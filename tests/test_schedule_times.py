"""Snapshot schedules say their times are UTC and when they run next, in local time too."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from console import format as fmt
from nasfs.cli.snapshot import _next_run

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC


@pytest.fixture
def tokyo() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_cli_says_utc_and_the_local_next_run(tokyo: None) -> None:
    assert _next_run("0 2 * * *", NOW) == "2026-11-19 02:00 UTC (11:00 JST here)"


def test_console_shows_the_next_run_in_the_box_time_zone() -> None:
    fmt.set_zone("Asia/Tokyo")
    try:
        assert fmt.next_run("0 2 * * *", NOW) == "2026-11-19 11:00"
        assert fmt.next_run("not cron", NOW) == "?"
    finally:
        fmt.set_zone(None)
