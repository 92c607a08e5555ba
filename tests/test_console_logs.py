"""The system log names who acted and on what, in the console and in `nasfs log show`, and
a row can be read in full. Against a real daemon (fixtures of test_cli_mount.py)."""

from __future__ import annotations

from pathlib import Path

import test_cli_mount
from test_cli_mount import Env
from test_console_helpers import assert_on_screen, run, wait_for_text
from test_console_policy import mounted, policy_of

from console.app import NasConsole
from console.backend import Backend
from console.screens.logs import LogsScreen, RowDialog
from nasfs.client import Client
from nasfs.client.logrows import target, who
from nasfs.client.snapshots import SnapshotClient

env = test_cli_mount.env


def test_who_and_target_of_rows() -> None:
    assert who({"user": "alice", "uid": 1001}) == "alice"
    assert who({"user": None, "uid": 1002}) == "uid 1002"
    assert who({"user": None, "uid": None}) == "nasfs"
    assert target({"share": "docs", "path": "/a.txt"}) == "docs/a.txt"
    assert target({"share": "docs", "path": "a.txt"}) == "docs/a.txt"
    assert target({"path": "user:bob", "second_path": "console:tty1"}) == (
        "user:bob -> console:tty1")
    assert target({}) == ""


def system_rows(env: Env, mnt: Path) -> list[dict[str, object]]:
    with policy_of(env, mnt) as policy:
        return list(policy.log_query("system", limit=5000).rows)


def test_every_system_row_names_who_acted(env: Env) -> None:
    mnt = mounted(env)
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        SnapshotClient(client).create("before-lunch")  # made as root over the socket
    with policy_of(env, mnt) as policy:
        for _ in range(int(policy.settings_get()["auth.max_failures"])):
            policy.auth_check("nobody", "wrong", "console:tty7")  # locks the terminal
        rows = policy.log_query("system", limit=5000).rows
    assert rows and all(row.get("user") for row in rows), rows
    snapshot = [r for r in rows if r["operation"].startswith("snapshot.")]
    assert snapshot and snapshot[-1]["user"] == "root"
    # The terminal's lock: the box decided it, no user did.
    lock = [r for r in rows if r.get("path") == "source:console:tty7"]
    assert lock and all(who(r) == "nasfs" for r in lock), rows
    shown = env.run("log", "show", "--system", "--mountpoint", mnt)
    assert " - " not in shown.stdout.replace(" -> ", "")
    assert "root" in shown.stdout and "user.add" in shown.stdout


def test_console_shows_the_target_and_opens_a_row_in_full(env: Env) -> None:
    mnt = mounted(env)
    rows = system_rows(env, mnt)
    added = [r for r in rows if r["operation"] == "user.add"]
    assert added

    async def scenario() -> None:
        app = NasConsole(Backend(mnt, run_dir=env.run_dir), require_login=False, poll_s=0.3)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "5Logs")  # F5, or 5 when the list is long
            await pilot.press("f5")
            await wait_for_text(pilot, "Access log, page 1")
            await pilot.press("k")
            await wait_for_text(pilot, "System log, page 1")
            assert_on_screen(app, "Target", "alice")
            screen = app.screen
            assert isinstance(screen, LogsScreen)
            table = screen.query_one("#log")
            # The table takes the screen's height: more than the 12 lines of other tables.
            assert table.size.height > 12, table.size
            index = next(i for i, r in enumerate(screen.rows) if r["operation"] == "user.add"
                         and r.get("path") == "alice")
            for _ in range(index):
                await pilot.press("down")
            await pilot.press("enter")
            await wait_for_text(pilot, f"System log row {screen.rows[index]['id']}")
            assert isinstance(app.screen, RowDialog)
            assert_on_screen(app, "Operation: user.add", "Path: alice", "User: root",
                             "Detail: uid 1001, with a password")
            await pilot.press("escape")
            await wait_for_text(pilot, "System log, page 1")

    run(scenario())
