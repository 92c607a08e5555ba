"""The scrub runs on a schedule by itself: the `scrub.schedule` setting (cron, monthly by
default), the daemon's `scrub-schedule` job, a whole scrub (data, parity, every metadata
copy) whose result is mailed. A real daemon, a real loopback SMTP server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from mail_util import Inbox, Running, members, run_dir, running, smtp, wait_until

from nasfs.client import DaemonError
from nasfs.cron import previous_fire
from nasfs.daemon.scrub_schedule import STATE_KEY, run_due
from nasfs.db import checksums
from nasfs.store.segments import list_segment_files
from tests.metarot_util import flip

__all__ = ["members", "run_dir", "running", "smtp"]  # fixtures


def _state(running: Running) -> dict[str, float | str]:
    state: dict[str, float | str] = running.daemon.store.upkeep.state(STATE_KEY)
    return state


def _set_state(running: Running, value: dict[str, float | str]) -> None:
    running.daemon.store.upkeep.set_state(STATE_KEY, value)


async def test_monthly_by_default_and_bad_schedules_refused(running: Running) -> None:
    settings = await running.policy(lambda p: p.settings_get())
    assert settings["scrub.schedule"] == "0 3 1 * *"
    with pytest.raises(DaemonError) as info:
        await running.policy(lambda p: p.settings_set("scrub.schedule", "61 * * * *"))
    assert info.value.code == "invalid_value" and "cron" in str(info.value)
    assert await running.policy(lambda p: p.settings_set("scrub.schedule", "off")) == ""


async def test_scheduled_scrub_covers_data_and_metadata_and_is_mailed(
        running: Running, members: list[Path], smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await running.settings(mail_host="127.0.0.1", mail_port=port, mail_starttls=False,
                           mail_to="admin@example.com", mail_enabled=True)
    await running.settings(scrub_schedule="0 * * * *")  # hourly
    daemon = running.daemon
    # First sight of the schedule: remembered, nothing run for the past.
    assert not await run_due(daemon)
    state = await trio.to_thread.run_sync(_state, running)
    now = daemon.policy.clock.now()
    assert state == {"cron": "0 * * * *", "last_fire": previous_fire("0 * * * *", now)}
    assert not await run_due(daemon)
    # As if the schedule had been seen an hour earlier: one fire time has passed since.
    earlier = {"cron": "0 * * * *", "last_fire": float(state["last_fire"]) - 3600}
    await trio.to_thread.run_sync(_set_state, running, earlier)
    segment = sorted(list_segment_files(members[0]).items())[0][1]
    with open(segment, "r+b") as f:
        data = f.read(64)
        f.seek(0)
        f.write(bytes(b ^ 0xFF for b in data))
    copy = members[-1] / "nasfs" / "db" / "store.db"
    flip(copy, copy.stat().st_size - 100, 0x08)

    daemon.jobs.poke("scrub-schedule")  # the periodic job itself, not a direct call
    message = await wait_until(lambda: inbox.find("Scrub finished"), "the scrub mail")
    body = message.get_content()
    assert "repaired shards 0" not in body and "metadata repaired 1" in body, body
    assert any(e.kind == "scrub-started" and e.detail == "on schedule" for e in daemon.events)
    assert checksums.verify(copy) == []
    # The same fire time does not start it again.
    assert not await run_due(daemon)
    assert daemon.jobs.statistics()["scrub-schedule"].failures == 0


async def test_off_never_starts_a_scrub(running: Running) -> None:
    await running.settings(scrub_schedule="off")
    await trio.to_thread.run_sync(_set_state, running, {"cron": "", "last_fire": 0.0})
    assert not await run_due(running.daemon)
    assert not any(e.kind == "scrub-started" for e in running.daemon.events)
