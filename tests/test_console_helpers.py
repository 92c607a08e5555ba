"""Helpers for the console tests: run a Pilot scenario, read the screen, wait for a state.

Pilot scenarios run on asyncio (Textual) inside a plain synchronous test, because the
suite runs async tests on trio. Waiting polls the screen; the limits are only there so a
broken console fails instead of hanging, never to measure speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot

WAIT_LIMIT_S = 60.0


def run(scenario: Awaitable[Any]) -> Any:
    return asyncio.run(scenario)  # type: ignore[arg-type]


def screen_text(app: App[Any]) -> str:
    """The characters on the terminal right now, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], what: str,
                   limit_s: float = WAIT_LIMIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"the console never showed {what}; the screen was:\n"
                                 + screen_text(pilot.app))
        await pilot.pause(0.05)


def flat(text: str) -> str:
    """`text` without white space and the banner's border, so wrapped lines still match."""
    return "".join(text.replace("█", "").split())


async def wait_for_text(pilot: Pilot[Any], text: str, limit_s: float = WAIT_LIMIT_S) -> None:
    """Wait until `text` is on the screen (wrapping across lines allowed)."""
    await wait_for(pilot, lambda: flat(text) in flat(screen_text(pilot.app)), repr(text),
                   limit_s)


def assert_on_screen(app: App[Any], *texts: str) -> None:
    """Each of `texts` is on the screen now (wrapping allowed); else show the screen."""
    screen = screen_text(app)
    missing = [t for t in texts if flat(t) not in flat(screen)]
    assert not missing, f"{missing} not on the screen:\n{screen}"


def test_times_are_shown_in_the_box_time_zone() -> None:
    from console.format import set_zone, when

    moment = 1_795_000_000 * 10**9  # 2026-11-18 11:06:40 UTC
    try:
        set_zone("UTC")
        assert when(moment) == "2026-11-18 11:06"
        set_zone("Asia/Tokyo")
        assert when(moment, "%Y-%m-%d %H:%M:%S") == "2026-11-18 20:06:40"
    finally:
        set_zone(None)
