"""The key bar at 80 columns breaks lines between keys, never inside one."""

from __future__ import annotations

from typing import Any

from test_console_helpers import run, screen_text, wait_for_text
from test_console_snapshots import console

from console.widgets.key_bar import KeyBar

SCREENS = [("f1", "Disks"), ("f2", "Disks"), ("f3", "alice"), ("f4", "docs"),
           ("f5", "page 1"), ("f6", "auth.max_failures"), ("f7", "Trash"),
           ("f8", "before-edit"), ("9", "usb-copy")]


def test_every_key_stays_on_one_line() -> None:
    async def scenario() -> None:
        app = console()
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "9Backups")
            for key, text in SCREENS:
                await pilot.press(key)
                await wait_for_text(pilot, text)
                await pilot.pause(0.1)
                bar = app.screen.query_one(KeyBar)
                lines = screen_text(app).splitlines()[-bar.size.height:]
                shown: list[Any] = [b for _n, b, _e, _t in
                                    app.screen.active_bindings.values() if b.show]
                for binding in shown:
                    entry = f"{app.get_key_display(binding)} {binding.description}"
                    assert any(entry in line for line in lines), (key, entry, lines)

    run(scenario())
