"""The console's mail settings and "Send test mail" key against a real daemon (`nasfs
mount` process) and a real SMTP server on loopback (aiosmtpd), at 80×24, keys only; and
the Disks screen's error counts and stop-check key from recorded daemon answers."""

from __future__ import annotations

from pathlib import Path

import test_cli_mount
from mail_util import Inbox, free_port, smtp
from test_cli_mount import Env
from test_console_helpers import assert_on_screen, run, screen_text, wait_for, wait_for_text

from console.app import NasConsole
from console.backend import Backend
from nasfs.client import Client
from nasfs.client.policy import PolicyClient

SIZE = (80, 24)

env = test_cli_mount.env
__all__ = ["smtp"]  # fixture


def mounted(env: Env) -> Path:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    return mnt


def settings_order(env: Env, mnt: Path) -> list[str]:
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        return list(PolicyClient(client).settings_get())


def set_settings(env: Env, mnt: Path, **values: object) -> None:
    with Client.connect(mnt, run_dir=env.run_dir) as client:
        policy = PolicyClient(client)
        for key, value in values.items():
            policy.settings_set(key.replace("_", ".", 1), value)


def test_mail_settings_and_test_mail_from_the_console(env: Env,
                                                      smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    mnt = mounted(env)
    order = settings_order(env, mnt)
    set_settings(env, mnt, mail_port=port, mail_starttls=False, mail_to="admin@example.com")

    async def change(pilot: object, key: str, *typed: str) -> None:
        app = pilot.app  # type: ignore[attr-defined]
        table = app.screen.query_one("#settings")
        table.move_cursor(row=order.index(key))
        await pilot.press("e")  # type: ignore[attr-defined]
        await wait_for_text(pilot, f"Change {key}")  # type: ignore[arg-type]
        await pilot.press("ctrl+u", *typed, "enter")  # type: ignore[attr-defined]

    async def scenario() -> None:
        app = NasConsole(Backend(mnt, run_dir=env.run_dir), require_login=False, poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "6Settings")  # F6, or 6 when the list is long
            await pilot.press("f6")
            await wait_for_text(pilot, "auth.max_failures")
            assert_on_screen(app, "t Send test mail")
            await pilot.press("t")
            await wait_for_text(pilot, "No mail server is set; set mail.host")
            assert_on_screen(app, "Fill in the mail settings")
            await change(pilot, "mail.host", *"127.0.0.1")
            await wait_for_text(pilot, "mail.host is now 127.0.0.1.")
            await change(pilot, "mail.password", *"hunter2")
            await wait_for_text(pilot, "mail.password is now set.")
            assert "hunter2" not in screen_text(app)
            await pilot.press("t")
            await wait_for_text(pilot, "Test mail sent to admin@example.com.")
            assert inbox.find("Test mail") is not None
            dead = free_port()
            await change(pilot, "mail.port", *str(dead))
            await wait_for_text(pilot, f"mail.port is now {dead}.")
            await pilot.press("t")
            await wait_for_text(pilot, f"127.0.0.1:{dead} refused the connection")
            assert_on_screen(app, "send a test mail again")
            await wait_for(pilot, lambda: len(inbox.messages) == 1, "one mail only")

    run(scenario())
