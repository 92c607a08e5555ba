"""The console's Sharing screen and `nasfs smb sessions|share`, against a real daemon running
a real smbd: the screen shows SMB on, a connected session (user, client address,
protocol), each share's SMB options; E edits a share's options (guests, Time Machine,
exact-case names), S switches SMB off (after a yes) and on again. The CLI lists the same
sessions and sets the same options, with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_console_helpers import run, screen_text, wait_for, wait_for_text
from textual.widgets import Input, Select

from console.app import NasConsole
from console.backend import Backend
from tests.smb_util import HOST, SmbNas, smb_nas

USERS = {"alice": (46151, "alice-pw")}
SIZE = (100, 30)


@pytest.fixture(scope="module")
def nas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbNas]:
    with smb_nas(tmp_path_factory.mktemp("smb"), USERS) as nas:
        nas.share("docs", ("user", "alice", "rw"))
        yield nas


def _cli(nas: SmbNas, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NASFS_RUN_DIR": str(nas.run_dir)}
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args, "--mountpoint",
                           str(nas.mnt)], capture_output=True, text=True, check=False, env=env,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)


def test_the_sharing_screen_shows_sessions_and_edits_share_options(nas: SmbNas) -> None:
    async def scenario() -> None:
        app = NasConsole(Backend(nas.mnt, run_dir=nas.run_dir), require_login=False,
                         poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "Dashboard")
            with nas.session("alice", "alice-pw") as session:
                assert nas.tree_status(session, "docs") == "OK"
                await pilot.press("0")
                await wait_for_text(pilot, "SMB is on: smbd")
                # HOST is in the summary too ("listens on port ... (127.0.0.1)"): wait for the
                # session's own row, which smbstatus may list a poll later.
                await wait_for(pilot, lambda: all(w in screen_text(app) for w in (
                    "alice", HOST, "SMB3")), "alice's session (user, client, protocol)")
            # E: the highlighted share's SMB options.
            await pilot.press("e")
            await wait_for_text(pilot, "SMB options of docs")
            app.screen.query_one("#field-guest", Select).value = "yes"
            app.screen.query_one("#field-time_machine", Input).value = "100"
            app.screen.query_one("#field-case_sensitive", Select).value = "exact case"
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Share docs changed.")
            await wait_for_text(pilot, "100 GiB")
            share = nas.admin.share_show("docs")
            assert share.guest and share.time_machine_gib == 100 and share.case_sensitive
            assert "fruit:time machine max size = 100G" in nas.conf.read_text()
            # S: off, after a yes; then on again.
            await pilot.press("s")
            await wait_for_text(pilot, "Switch SMB off?")
            await pilot.press("y")
            await wait_for_text(pilot, "SMB is off.")
            assert nas.status()["running"] is False and nas.leftovers() == []
            await pilot.press("s")
            await wait_for(pilot, lambda: nas.status()["running"], "smbd running again")
            await wait_for_text(pilot, "SMB is on: smbd")

    run(scenario())
    nas.admin.share_edit("docs", guest=False, time_machine_gib=None, case_sensitive=False)


def test_the_cli_lists_sessions_and_sets_share_options(nas: SmbNas) -> None:
    with nas.session("alice", "alice-pw") as session:
        assert nas.tree_status(session, "docs") == "OK"
        done = _cli(nas, "smb", "sessions", "--json")
        plain = _cli(nas, "smb", "sessions")
    assert done.returncode == 0, done.stderr
    sessions = json.loads(done.stdout)["sessions"]
    mine = [s for s in sessions if s["user"] == "alice"]
    assert mine and mine[0]["client"] == HOST and mine[0]["protocol"].startswith("SMB3")
    assert "alice" in plain.stdout and HOST in plain.stdout
    done = _cli(nas, "smb", "share", "docs", "--guest", "--time-machine", "50", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"name": "docs", "hidden": False, "guest": True,
                                       "time_machine_gib": 50, "case_sensitive": False}
    shown = _cli(nas, "smb", "share", "docs")
    assert "guests: may read it" in shown.stdout and "at most 50 GiB" in shown.stdout
    done = _cli(nas, "smb", "share", "docs", "--no-guest", "--time-machine", "0", "--json")
    assert json.loads(done.stdout)["guest"] is False
    assert json.loads(done.stdout)["time_machine_gib"] is None
    refused = _cli(nas, "smb", "share", "nosuch", "--guest")
    assert refused.returncode != 0 and "nosuch" in refused.stderr
