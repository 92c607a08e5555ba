"""The message line against a real daemon: what an action said stays when the screen reads
its data again (console.screens.policy_base: `say` and `hint`).

Every read of a screen with an empty list used to say its hint ("No shares yet: press A to
add one.") over what the last action had just said, so deleting the last share showed
"Share docs deleted." only until the next read (a poll, the screen shown again, or the
read that closing the Y/N dialog starts beside the delete). Here the next read is made
certain by leaving the screen and coming back, and the test waits until that read is
drawn before it looks.
"""

from __future__ import annotations

from typing import Any

import test_cli_mount
from test_cli_mount import Env
from test_console_helpers import assert_on_screen, run, wait_for, wait_for_text
from test_console_policy import SIZE, console_on, mounted
from textual.pilot import Pilot
from textual.widgets import Static

from console.screens.policy_base import PolicyScreen
from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.client.snapshots import SnapshotClient

env = test_cli_mount.env


async def read_again(pilot: Pilot[Any], away: str, back: str) -> None:
    """Leave the screen and come back; return once the read its return starts is drawn."""
    screen = pilot.app.screen
    assert isinstance(screen, PolicyScreen)
    drawn = screen._shown_read
    await pilot.press(away)
    await wait_for(pilot, lambda: pilot.app.screen is not screen, f"the screen behind {away}")
    await pilot.press(back)
    await wait_for(pilot, lambda: pilot.app.screen is screen and screen._shown_read > drawn,
                   "the screen's data read again")


def message_line(app: Any) -> str:
    return str(app.screen.query_one("#screen-message", Static).content)


def test_deleting_the_last_share_is_still_said_after_the_next_read(env: Env) -> None:
    mnt = mounted(env)
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        PolicyClient(client).share_create("docs")

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "4Shares")
            await pilot.press("f4")
            await wait_for_text(pilot, "Access to docs")
            await pilot.press("d")
            await wait_for_text(pilot, "Delete share docs?")
            await pilot.press("y")
            await wait_for_text(pilot, "Share docs deleted.")
            await read_again(pilot, "f3", "f4")
            assert_on_screen(app, "Share docs deleted.")
            assert "No shares yet" not in message_line(app)

    run(scenario())


def test_deleting_the_last_snapshot_is_still_said_after_the_next_read(env: Env) -> None:
    mnt = mounted(env)
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        SnapshotClient(client).create("before-the-move")

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "8Snapshots")
            await pilot.press("f8")
            await wait_for_text(pilot, "before-the-move")
            await pilot.press("d")
            await wait_for_text(pilot, "Delete snapshot before-the-move?")
            await pilot.press("y")
            await wait_for_text(pilot, "before-the-move deleted.")
            await read_again(pilot, "f7", "f8")
            assert_on_screen(app, "before-the-move deleted.")
            assert "No snapshots yet" not in message_line(app)

    run(scenario())


def test_a_hint_still_follows_the_reads_until_an_action_speaks(env: Env) -> None:
    # The other side of the rule: with no action's words on the line, every read's hint
    # shows what that read found (the users screen's count follows a user added elsewhere).
    mnt = mounted(env)

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "3Users")
            await pilot.press("f3")
            await wait_for_text(pilot, "2 users, 0 groups.")
            with Client.connect(mnt, run_dir=env.run_dir) as client:
                PolicyClient(client).user_add("bob", 1002)
            await read_again(pilot, "f4", "f3")
            assert_on_screen(app, "3 users, 0 groups.")

    run(scenario())
