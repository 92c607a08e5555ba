"""The console's trash and snapshot screens against a real daemon on a real mount: delete a
file through the mount and restore it from the Trash screen; take a snapshot, browse what
changed since, and restore a file from it.
"""

from __future__ import annotations

from pathlib import Path

import test_cli_mount
from test_cli_mount import Env
from test_console_helpers import assert_on_screen, run, wait_for_text

from console.app import NasConsole
from console.backend import Backend
from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.client.snapshots import SnapshotClient

SIZE = (80, 24)

env = test_cli_mount.env


def mounted_with_share(env: Env) -> Path:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        PolicyClient(client).share_create("docs", trash_days=30)
    (mnt / "docs" / "plan.txt").write_text("the plan, version 1\n")
    return mnt


def console_for(env: Env, mnt: Path) -> NasConsole:
    return NasConsole(Backend(mnt, run_dir=env.run_dir), require_login=False, poll_s=0.3)


def test_restore_a_deleted_file_from_the_trash(env: Env) -> None:
    mnt = mounted_with_share(env)
    (mnt / "docs" / "plan.txt").unlink()

    async def scenario() -> None:
        app = console_for(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "7Trash")  # F7, or 7 when the list is long
            await pilot.press("f7")
            await wait_for_text(pilot, "1 items")
            assert_on_screen(app, "docs", "/plan.txt", "deleted")
            await pilot.press("space", "r")
            await wait_for_text(pilot, "1 item(s) restored to where they were.")
            await wait_for_text(pilot, "0 items")
            assert (mnt / "docs" / "plan.txt").read_text() == "the plan, version 1\n"
            (mnt / "docs" / "plan.txt").unlink()
            await pilot.press("f")
            await wait_for_text(pilot, "Filter the trash")
            await pilot.press("tab", "tab", *"plan", "enter")
            await wait_for_text(pilot, "1 items (filter: path=plan)")
            await pilot.press("d")
            await wait_for_text(pilot, "Purge 1 item(s) for good?")
            await pilot.press("y")
            await wait_for_text(pilot, "1 item(s) purged.")
            await wait_for_text(pilot, "0 items")

    run(scenario())
    assert not (mnt / "docs" / "plan.txt").exists()


def test_take_browse_and_restore_a_snapshot(env: Env) -> None:
    mnt = mounted_with_share(env)

    async def scenario() -> None:
        app = console_for(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "8Snapshots")  # F8, or 8 when the list is long
            await pilot.press("f8")
            await wait_for_text(pilot, "No snapshots yet")
            await pilot.press("t")
            await wait_for_text(pilot, "Take a snapshot now")
            await pilot.press(*"before-edit", "enter")
            await wait_for_text(pilot, "Snapshot taken.")
            await wait_for_text(pilot, "before-edit")
            (mnt / "docs" / "plan.txt").write_text("the plan, ruined\n")
            with Client.connect(mnt, run_dir=env.run_dir) as client:
                client.flush()
            await pilot.press("b")
            await wait_for_text(pilot, "Changed since before-edit: 1")
            assert_on_screen(app, "docs/plan.txt", "changed")
            await pilot.press("r")
            await wait_for_text(pilot, "Restore from before-edit")
            await pilot.press("ctrl+s")
            # The file still exists, so the old version comes back beside it.
            await wait_for_text(pilot, "Restored as docs/plan.txt (before-edit) (1 file(s)")
            await pilot.press("l")
            await wait_for_text(pilot, "before-edit locked.")
            await wait_for_text(pilot, "LOCKED")
        with Client.connect(mnt, run_dir=env.run_dir) as client:
            snaps = SnapshotClient(client).list()
            assert [(s.name, s.locked) for s in snaps] == [("before-edit", True)]

    run(scenario())
    assert (mnt / "docs" / "plan.txt (before-edit)").read_text() == "the plan, version 1\n"
    assert (mnt / "docs" / "plan.txt").read_text() == "the plan, ruined\n"
