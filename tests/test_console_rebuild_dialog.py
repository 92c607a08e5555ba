"""The Replace-disk dialog asks in the order it says (disk number, then directory) and fills
in what it knows: the failed disk's number and the directory where that disk was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_console_helpers import run, wait_for, wait_for_text
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from console.screens.rebuild_dialog import RebuildDialog, RebuildRequest
from nasfs.client import ArrayStatus

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "test_console_recorded.json").read_text())


def degraded(paths: dict[int, str | None], missing: list[int]) -> ArrayStatus:
    """The recorded degraded status with disk paths and missing disks as given."""
    data = json.loads(json.dumps(RECORDED["degraded"]))
    for member in data["members"]:
        member["path"] = paths.get(member["index"], member["path"])
        member["state"] = "missing" if member["index"] in missing else "ok"
    data["missing"] = missing
    return ArrayStatus.from_json(data)


class Host(App[None]):
    def __init__(self, status: ArrayStatus) -> None:
        super().__init__()
        self.status = status
        self.answer: RebuildRequest | str | None = "not answered"

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        def done(answer: RebuildRequest | None) -> None:
            self.answer = answer
        self.push_screen(RebuildDialog(self.status), done)


def fields(app: App[Any]) -> tuple[str, str]:
    return (app.screen.query_one("#disk-number", Input).value,
            app.screen.query_one("#onto", Input).value)


def test_the_failed_disk_and_its_old_place_are_filled_in() -> None:
    status = degraded({1: "/srv/disk2"}, [1])

    async def scenario() -> None:
        app = Host(status)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "Replace a disk and rebuild it")
            assert fields(app) == ("2", "/srv/disk2")
            assert app.screen.focused is app.screen.query_one("#onto", Input)
            await pilot.press("enter")  # what was filled in is enough
            await wait_for(pilot, lambda: app.answer != "not answered", "the answer")
        assert app.answer == RebuildRequest(1, "/srv/disk2")

    run(scenario())


def test_typing_replaces_the_filled_in_directory() -> None:
    status = degraded({1: "/srv/disk2"}, [1])

    async def scenario() -> None:
        app = Host(status)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "Replace a disk and rebuild it")
            await pilot.press(*"/srv/new", "enter")
            await wait_for(pilot, lambda: app.answer != "not answered", "the answer")
        assert app.answer == RebuildRequest(1, "/srv/new")

    run(scenario())


def test_another_disk_number_offers_that_disks_place() -> None:
    status = degraded({0: "/srv/disk1", 1: "/srv/disk2", 2: "/srv/disk3"}, [1, 2])

    async def scenario() -> None:
        app = Host(status)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "Replace a disk and rebuild it")
            assert fields(app) == ("2", "/srv/disk2")
            await pilot.press("shift+tab", "ctrl+u", "3")
            await wait_for(pilot, lambda: fields(app) == ("3", "/srv/disk3"), "disk 3's place")
            await pilot.press("tab", *"/mnt/x", "shift+tab", "ctrl+u", "2")
            # A directory typed by hand stays.
            await wait_for(pilot, lambda: fields(app) == ("2", "/mnt/x"), "the typed path")

    run(scenario())
