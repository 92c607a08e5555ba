"""Snapshot tests of every console screen at 80×24 (pytest-textual-snapshot).

The screens are fed the answers of a real daemon recorded in test_console_recorded.json
(paths, uuid, pid, times and sizes replaced by fixed values), replayed through the real
`nasfs.client.Client` typed calls, so the pictures do not change from run to run. What the
console does against live daemons is tested in test_console_live.py and
test_console_policy.py. Update the pictures with `pytest --snapshot-update` after a
deliberate change, and look at them (tests/__snapshots__/) before committing.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_console_helpers import wait_for, wait_for_text
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import NasConsole
from console.backend import Backend
from console.state import JobState
from nasfs.client import Client, DaemonNotRunning, JobProgress

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "test_console_recorded.json").read_text())

SnapCompare = Callable[..., bool]


class RecordedConnection:
    """Answers control calls from the recording, as the daemon answered them."""

    def __init__(self, status: str) -> None:
        self.status = status

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             on_progress: Callable[[dict[str, Any]], None] | None = None,
             timeout: float | None = None) -> Any:
        key = self.status if method == "status" else method
        params = params or {}
        # Answers recorded per job (backup.space.office), and a generation's files apart
        # from the list of generations.
        if f"{key}.{params.get('name')}" in RECORDED:
            key = f"{key}.{params.get('name')}"
        if key == "backup.generations" and params.get("path") is not None:
            key = "backup.generations.files"
        if key not in RECORDED:
            raise AssertionError(f"no recorded answer for {method}")
        return copy.deepcopy(RECORDED[key])

    def close(self) -> None:
        pass


class RecordedBackend(Backend):
    """A backend whose connections replay the recording instead of using a socket."""

    def __init__(self, status: str = "healthy") -> None:
        super().__init__(None, config_file=Path("/etc/nasfs/nasfs.toml"))
        self.status_key = status

    def client(self) -> Client:
        return Client(RecordedConnection(self.status_key))  # type: ignore[arg-type]


class NoDaemonBackend(Backend):
    """No daemon answers: the client's own DaemonNotRunning, as for a missing socket."""

    def client(self) -> Client:
        return Client.connect(Path("/nonexistent/nasfs.sock"))


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Times on screen are local times: pin the zone so the pictures are the same anywhere,
    # and "now" for the times the console computes itself (a schedule's next run).
    import os

    from console import format as fmt

    monkeypatch.setattr(fmt, "clock", lambda: 1_795_000_000.0)  # 2026-11-18 11:06:40 UTC

    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def console(status: str = "healthy", **options: Any) -> NasConsole:
    options.setdefault("require_login", False)
    return NasConsole(RecordedBackend(status), poll_s=3600, **options)


def steady(*keys: str, text: str) -> Callable[[Pilot[Any]], Any]:
    """Press `keys`, wait until `text` shows, and stop cursors blinking."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for_text(pilot, "8Snapshots")  # F8 or 8: the list shows digits when long
        if keys:
            await pilot.press(*keys)
        await wait_for_text(pilot, text)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    return run_before


def test_recorded_backend_speaks_like_the_client() -> None:
    status = RecordedBackend("degraded").status()
    assert status.state == "degraded" and status.missing == [1]
    with pytest.raises(DaemonNotRunning):
        NoDaemonBackend().status()


def test_dashboard_healthy(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady(text="Array HEALTHY"))


def test_dashboard_degraded(snap_compare: SnapCompare) -> None:
    assert snap_compare(console("degraded"), run_before=steady(text="Array DEGRADED"))


def test_dashboard_with_a_scrub_running(snap_compare: SnapCompare) -> None:
    app = console()
    progress = JobProgress(**RECORDED["scrub.progress"][0])

    async def run_before(pilot: Pilot[Any]) -> None:
        await steady(text="Array HEALTHY")(pilot)
        app.state = app.state.with_job(JobState("scrub", "of all disks", progress))
        await wait_for_text(pilot, "Scrub of all disks: running")

    assert snap_compare(app, run_before=run_before)


def test_disks_degraded(snap_compare: SnapCompare) -> None:
    assert snap_compare(console("degraded"),
                        run_before=steady("f2", text="Disk 2 has failed or was removed"))


def test_disks_with_a_scrub_to_stop(snap_compare: SnapCompare) -> None:
    app = console()
    progress = JobProgress(**RECORDED["scrub.progress"][0])

    async def run_before(pilot: Pilot[Any]) -> None:
        await steady("f2", text="All disks are working")(pilot)
        app.state = app.state.with_job(JobState("scrub", "of all disks", progress))
        await wait_for_text(pilot, "s Stop check")

    assert snap_compare(app, run_before=run_before)


def test_rebuild_dialog(snap_compare: SnapCompare) -> None:
    assert snap_compare(console("degraded"), run_before=steady(
        "f2", "r", *"/srv/disk4", text="Replace a disk and rebuild it"))


def test_users(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady("f3", text="alice"))


def test_shares_with_effective_access(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady(
        "f4", "w", *"bob", text="bob on docs: rw (read and write)"))


def test_logs(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady("f5", "k", text="System log, page 1"))


def test_settings(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady("f6", text="auth.max_failures"))


def test_trash(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady("f7", "space", text="2 items"))


def test_snapshots_browsed(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady(
        "f8", "b", text="Changed since before-edit: 2"))


def test_backups(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady("9", text="not plugged in"))


def test_backups_generation_files(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady(
        "9", "g", "enter", text="Enter opens a folder"))


def test_backups_add_job_to_a_usb_disk(snap_compare: SnapCompare) -> None:
    """The job form offers the disks by label, model, size and filesystem UUID."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await steady("9", "a", text="Back up to")(pilot)
        await pilot.press("ctrl+s")  # the first kind: a USB disk
        await wait_for_text(pilot, "Add a backup job to a USB disk")
        await pilot.press(*"office-usb", "tab", *"docs")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    assert snap_compare(console(), run_before=run_before)


def test_backups_delete_job(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady(
        "9", "d", text="Delete the backup job office?"))


def test_sharing(snap_compare: SnapCompare) -> None:
    assert snap_compare(console(), run_before=steady("0", text="SMB3_11"))


def test_login(snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for_text(pilot, "Log in to manage the NAS")
        await wait_for_text(pilot, "array HEALTHY")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    assert snap_compare(console(require_login=True), run_before=run_before)


def test_daemon_not_running(snap_compare: SnapCompare) -> None:
    app = NasConsole(NoDaemonBackend(None, config_file=Path("/etc/nasfs/nasfs.toml")),
                     require_login=False, poll_s=3600)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.state.problem is not None, "the problem")
        await wait_for_text(pilot, "F11 start the array")

    assert snap_compare(app, run_before=run_before)


def test_every_screen_uses_only_the_16_terminal_colours() -> None:
    """The Linux VT and serial terminals have 16 colours: the console asks for no others
    (the terminal's own palette or its default colours), so nothing is lost or guessed."""
    from rich.color import ColorType
    from test_console_helpers import run

    async def scenario() -> None:
        app = console("degraded")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "9Backups")
            for key in ("f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "9"):
                await pilot.press(key)
                await pilot.pause(0.2)
                for strip in app.screen._compositor.render_strips():
                    for segment in strip:
                        style = segment.style
                        for colour in (style.color, style.bgcolor) if style else ():
                            if colour is None or colour.type == ColorType.DEFAULT:
                                continue
                            assert colour.type == ColorType.STANDARD, (key, segment)
                            assert colour.number is not None and colour.number < 16

    run(scenario())
