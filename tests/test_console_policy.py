"""The console's policy screens against a real daemon: login and lock-out, users, groups.

The daemon is a real `nasfs mount` process (fixtures of test_cli_mount.py); accounts are
made with the typed client, as `nasfs user add` would, and everything else through the
console's keys at 80×24.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import test_cli_mount
from test_cli_mount import Env
from test_console_helpers import assert_on_screen, run, wait_for, wait_for_text
from textual.widgets import Input

from console.app import NasConsole
from console.backend import Backend
from console.screens.login import LoginScreen
from console.screens.logs import LogsScreen
from nasfs.client import Client
from nasfs.client.policy import PolicyClient

SIZE = (80, 24)
ROOT_PASSWORD = "correct horse"

env = test_cli_mount.env


def mounted(env: Env) -> Path:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    with policy_of(env, mnt) as policy:
        policy.user_add("root", 0, password=ROOT_PASSWORD)
        policy.user_add("alice", 1001, password="alice's secret")
    return mnt


@contextmanager
def policy_of(env: Env, mnt: Path) -> Iterator[PolicyClient]:
    """The typed policy calls of one connection to the daemon (closed afterwards)."""
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        yield PolicyClient(client)


def console_on(env: Env, mnt: Path) -> NasConsole:
    """The console on the test's daemon, logged in already, polling every 0.3 s."""
    return NasConsole(Backend(mnt, run_dir=env.run_dir), require_login=False, poll_s=0.3)


async def log_in(pilot: object, name: str, password: str) -> None:
    await pilot.press(*name, "enter", *password, "enter")  # type: ignore[attr-defined]


def test_login_refuses_without_saying_which_part_was_wrong(env: Env) -> None:
    mnt = mounted(env)

    async def scenario() -> None:
        app = NasConsole(Backend(mnt, run_dir=env.run_dir), poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "Log in to manage the NAS")
            await log_in(pilot, "root", "wrong")
            await wait_for_text(pilot, "Name or password not accepted. Failed attempts: 1.")
            await log_in(pilot, "nobody", "wrong")
            await wait_for_text(pilot, "Name or password not accepted. Failed attempts: 2.")
            assert isinstance(app.screen, LoginScreen)
            await log_in(pilot, "alice", "alice's secret")
            await wait_for_text(pilot, "only an administrator can use the console")
            assert app.locked
            await pilot.press("f2")  # screen keys do nothing while locked
            assert isinstance(app.screen, LoginScreen)
            await log_in(pilot, "root", ROOT_PASSWORD)
            await wait_for(pilot, lambda: not app.locked, "the console unlocked")
            await wait_for_text(pilot, "Array HEALTHY")
            assert app.user == "root"
            await pilot.press("f9")
            await wait_for_text(pilot, "Log in to manage the NAS")

    run(scenario())


def test_locked_account_is_told_apart_only_once_locked(env: Env) -> None:
    mnt = mounted(env)
    with policy_of(env, mnt) as policy:
        policy.settings_set("auth.max_failures", 3)

    async def scenario() -> None:
        app = NasConsole(Backend(mnt, run_dir=env.run_dir), poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            for attempt in (1, 2, 3):
                await log_in(pilot, "root", "wrong")
                await wait_for_text(pilot, f"Failed attempts: {attempt}.")
                assert_on_screen(app, "Name or password not accepted")
            await log_in(pilot, "root", ROOT_PASSWORD)
            await wait_for_text(pilot, "This account is locked")
            # For how long, and how: the name and the terminal, each with its command.
            assert_on_screen(app, "the name root is locked for 30 more minutes",
                             "'nasfs user unlock root'", "'nasfs user unlock --source console'")
            assert app.locked
            with policy_of(env, mnt) as policy:
                # Unlocking root frees the terminal too: only root's failures locked it.
                report = policy.user_unlock_report("root")
                assert report.sources_unlocked == ["console"]
            await log_in(pilot, "root", ROOT_PASSWORD)
            await wait_for(pilot, lambda: not app.locked, "the console unlocked")

    run(scenario())


def test_idle_console_locks_itself(env: Env) -> None:
    mnt = mounted(env)

    async def scenario() -> None:
        app = NasConsole(Backend(mnt, run_dir=env.run_dir), poll_s=0.3, idle_lock_s=1.0)
        async with app.run_test(size=SIZE) as pilot:
            await log_in(pilot, "root", ROOT_PASSWORD)
            await wait_for(pilot, lambda: not app.locked, "the console unlocked")
            await wait_for(pilot, lambda: app.locked, "the idle lock")
            assert isinstance(app.screen, LoginScreen)

    run(scenario())


def test_add_user_group_and_membership(env: Env) -> None:
    mnt = mounted(env)

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "3Users")  # F3, or 3 when the list is long
            await pilot.press("f3")
            await wait_for_text(pilot, "alice")
            await pilot.press("a")
            await wait_for_text(pilot, "Add a user")
            await pilot.press(*"bob", "tab", "tab", *"pw1", "tab", *"pw1", "enter")
            await wait_for_text(pilot, "User bob added.")
            await pilot.press("g")
            await wait_for_text(pilot, "Add a group")
            await pilot.press(*"office", "enter")
            await wait_for_text(pilot, "Group office added.")
            # Users are listed by uid: root, alice, bob. Put alice in the only group.
            await pilot.press("down", "m")
            await wait_for_text(pilot, "Add alice to a group")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "alice is now in office.")
        with policy_of(env, mnt) as policy:
            users = {u.name: u for u in policy.user_list()}
            assert users["bob"].uid == 1002 and users["bob"].has_password
            assert users["alice"].groups == ["office"]
            assert [g.members for g in policy.group_list()] == [["alice"]]

    run(scenario())


def test_a_refused_dialog_keeps_what_was_typed(env: Env) -> None:
    mnt = mounted(env)

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "3Users")  # F3, or 3 when the list is long
            await pilot.press("f3")
            await wait_for_text(pilot, "alice")
            await pilot.press("a")
            await wait_for_text(pilot, "Add a user")
            await pilot.press(*"Bad Name", "tab", "tab", *"pw1", "tab", *"pw2", "enter")
            await wait_for_text(pilot, "The two passwords differ")
            await pilot.press("enter")  # (the focus is where it was: the last field)
            name = app.screen.query_one("#field-name", Input)
            assert name.value == "Bad Name"  # still there, to be corrected
            again = app.screen.query_one("#field-again", Input)
            again.value = "pw1"
            await pilot.press("enter")
            await wait_for_text(pilot, "User name 'Bad Name' is not valid")
            assert_on_screen(app, "Add a user")  # the daemon refused: the dialog stays
            assert app.screen.query_one("#field-name", Input).value == "Bad Name"
            app.screen.query_one("#field-name", Input).value = "carol"
            await pilot.press("enter")
            await wait_for_text(pilot, "User carol added.")
        with policy_of(env, mnt) as policy:
            assert "carol" in {u.name for u in policy.user_list()}

    run(scenario())


def test_share_with_acl_and_live_effective_access(env: Env) -> None:
    mnt = mounted(env)

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "4Shares")  # F4, or 4 when the list is long
            await pilot.press("f4")
            await wait_for_text(pilot, "No shares yet")
            await pilot.press("a")
            await wait_for_text(pilot, "Add a share")
            await pilot.press(*"docs", "enter")
            await wait_for_text(pilot, "Share docs added.")
            await wait_for_text(pilot, "Access to docs")
            await pilot.press("plus")
            await wait_for_text(pilot, "Give access to docs")
            await pilot.press("tab", *"alice", "ctrl+s")
            await wait_for_text(pilot, "User alice now has read and write on docs.")
            await pilot.press("w", *"alice")
            await wait_for_text(pilot, "alice on docs: rw (read and write)")
            # Back to the access table, then Space turns rw into ro: the answer follows.
            await pilot.press("shift+tab", "space")
            await wait_for_text(pilot, "User alice now has read only on docs.")
            await wait_for_text(pilot, "alice on docs: ro (read only)")
            await pilot.press("w", "ctrl+u", *"root")
            await wait_for_text(pilot, "root on docs: rw (read and write), as an administrator")
        with policy_of(env, mnt) as policy:
            share = policy.share_show("docs")
            assert [(e.kind, e.principal, e.access) for e in share.acl] == [
                ("user", "alice", "ro")]
            assert share.trash_days == 30 and not share.hidden

    run(scenario())


def test_logs_page_filter_verify_and_export(env: Env, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mnt = mounted(env)
    with policy_of(env, mnt) as policy:
        for i in range(3):
            policy.group_add(f"team{i}", 2000 + i)
        system_rows = policy.log_query("system", limit=5000).rows
    assert len(system_rows) >= 5
    monkeypatch.setattr(LogsScreen, "PAGE_ROWS", 2)
    export = tmp_path / "system.csv"

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "5Logs")  # F5, or 5 when the list is long
            await pilot.press("f5")
            await wait_for_text(pilot, "Access log, page 1")
            await pilot.press("k")
            first, second = system_rows[0]["id"], system_rows[1]["id"]
            await wait_for_text(pilot, f"System log, page 1: rows {first}..{second}")
            await pilot.press("n")
            third, fourth = system_rows[2]["id"], system_rows[3]["id"]
            await wait_for_text(pilot, f"System log, page 2: rows {third}..{fourth}")
            await pilot.press("p")
            await wait_for_text(pilot, f"System log, page 1: rows {first}..{second}")
            await pilot.press("l")
            await wait_for_text(pilot, "System log, last page")
            await pilot.press("f")
            await wait_for_text(pilot, "Filter the log")
            await pilot.press("tab", "tab", "tab", "tab", *"group.add", "enter")
            await wait_for_text(pilot, "(filter: op=group.add)")
            assert_on_screen(app, "group.add")
            await pilot.press("v")
            await wait_for_text(pilot, "The system log is intact")
            await pilot.press("x")
            await wait_for_text(pilot, "Export the system log")
            await pilot.press("enter", "down", "down", "enter")  # the encoding list: cp932
            await pilot.press("tab", *str(export), "enter")
            await wait_for_text(pilot, f"3 rows written to {export} (cp932)")
        text = export.read_bytes().decode("cp932")
        assert text.count("group.add") == 3 and "user.add" not in text

    run(scenario())


def test_settings_change_the_lock_out_policy(env: Env) -> None:
    mnt = mounted(env)

    async def scenario() -> None:
        app = console_on(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "6Settings")  # F6, or 6 when the list is long
            await pilot.press("f6")
            await wait_for_text(pilot, "auth.max_failures")
            assert_on_screen(app, "wrong passwords before a name (or terminal) is locked",
                             "console idle lock")
            await pilot.press("e")
            await wait_for_text(pilot, "Change auth.max_failures")
            await pilot.press("ctrl+u", *"0", "enter")
            await wait_for_text(pilot, "must be a positive whole number")
            await pilot.press("enter")
            await wait_for_text(pilot, "Change auth.max_failures")
            await pilot.press("ctrl+u", *"7", "enter")
            await wait_for_text(pilot, "auth.max_failures is now 7.")
        with policy_of(env, mnt) as policy:
            assert policy.settings_get()["auth.max_failures"] == 7

    run(scenario())
