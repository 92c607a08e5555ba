"""The Dashboard's alerts stay above the fold at 80x24: right under the array's state."""

from __future__ import annotations

from test_console_helpers import run, screen_text, wait_for_text
from test_console_snapshots import console


def test_alerts_come_before_disks_capacity_and_jobs() -> None:
    async def scenario() -> None:
        app = console("degraded")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "disk missing: disk 2 is missing")
            lines = screen_text(app).splitlines()
            alert = next(i for i, line in enumerate(lines) if "disk missing: disk 2" in line)
            disks = next(i for i, line in enumerate(lines) if line.strip() == "Disks")
            assert alert < disks < 24

    run(scenario())
