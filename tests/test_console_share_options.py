"""The console's share dialog offers every share option, with the CLI's defaults."""

from __future__ import annotations

import test_cli_mount
from test_cli_mount import Env
from test_console_helpers import run, wait_for_text
from test_console_policy import SIZE, mounted
from textual.widgets import Input

from console.app import NasConsole
from console.backend import Backend
from console.screens.shares import NEW_SHARE_KEEPS_OVERWRITTEN, share_fields
from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.policy.records import ShareRecord

env = test_cli_mount.env


def test_new_share_defaults_are_the_clis() -> None:
    # `nasfs share create NAME` without options makes ShareRecord's defaults.
    assert ShareRecord("x").keep_overwritten == NEW_SHARE_KEEPS_OVERWRITTEN
    names = [f.name for f in share_fields(None)]
    for option in ("hidden", "trash", "trash_days", "keep_overwritten", "force_group",
                   "create_mode", "dir_mode", "homes"):
        assert option in names


def test_add_a_share_with_every_option(env: Env) -> None:
    mnt = mounted(env)
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        PolicyClient(client).group_add("sales", 2001)

    async def scenario() -> None:
        app = NasConsole(Backend(mnt, run_dir=env.run_dir), require_login=False, poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "4Shares")  # F4, or 4 when the list is long
            await pilot.press("f4")
            await pilot.press("a")
            await wait_for_text(pilot, "Add a share")
            for field, value in (("name", "Büro 2026"), ("force_group", "sales"),
                                 ("create_mode", "0664"), ("dir_mode", "2775")):
                app.screen.query_one(f"#field-{field}", Input).value = value
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Share Büro 2026 added.")

    run(scenario())
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        share = next(s for s in PolicyClient(client).share_list() if s.name == "Büro 2026")
    assert (share.force_group, share.create_mode, share.dir_mode) == ("sales", "0664", "2775")
    assert share.keep_overwritten is True and share.trash_days == 30 and not share.homes
