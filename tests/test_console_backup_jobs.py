"""The console's Backups screen adds, edits and deletes backup jobs, against a real daemon:
a USB disk chosen from the disks nasfs sees (a loop device holding a real ext4 filesystem,
shown by label, size and UUID, never by device name), another box over ssh (sshd started
by the test) whose host key is shown and pinned only when saved again, and a cloud remote
configured already (a copy of its rclone settings). A bad schedule and a source that is not
a share are refused in the form, which stays open, and nothing changes; deleting asks first
and leaves the generations at the destination, as `nasfs backup del` does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_console_helpers import assert_on_screen, run, wait_for, wait_for_text
from textual.pilot import Pilot
from textual.widgets import Input, Select

from console.app import NasConsole
from console.backend import Backend
from console.screens.backups import BackupsScreen
from console.screens.form_dialog import FormDialog
from nasfs.client import Client
from nasfs.client.backup import BackupClient, BackupJob
from tests.backup_util import (
    backup_nas,
    cli,
    fingerprint,
    loop_disk,
    make_tree,
    mounted_disk,
    run_job,
    ssh_server,
)
from tests.fuse_policy_util import PolicyMount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")

SIZE = (80, 24)


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def jobs(nas: PolicyMount) -> list[BackupJob]:
    with Client.connect(nas.socket) as client:
        return BackupClient(client).jobs()


def job(nas: PolicyMount, name: str) -> BackupJob:
    return next(j for j in jobs(nas) if j.name == name)


async def open_backups(pilot: Pilot[Any]) -> None:
    await wait_for_text(pilot, "9Backups")
    await pilot.press("9")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BackupsScreen),
                   "the Backups screen")


def console(nas: PolicyMount) -> NasConsole:
    """The console on the test's daemon, logged in already, polling every 0.5 s."""
    return NasConsole(Backend(nas.socket), require_login=False, poll_s=0.5)


async def add_job_form(pilot: Pilot[Any], kind: str, *, once_shown: str = "") -> None:
    """Open the Backups screen, wait for `once_shown` on it, press A and choose `kind`:
    the job form is up."""
    await open_backups(pilot)
    if once_shown:
        await wait_for_text(pilot, once_shown)
    await pilot.press("a")
    await choose_kind(pilot, kind)


async def choose_kind(pilot: Pilot[Any], kind: str) -> None:
    """The first dialog: where the job goes; then wait for the job form."""
    await wait_for_text(pilot, "Back up to")
    pilot.app.screen.query_one("#field-kind", Select).value = kind
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: form_ready(pilot), "the job form")


def form_ready(pilot: Pilot[Any]) -> bool:
    """The job form is up, its choice fields drawn (a value set before is not shown)."""
    screen = pilot.app.screen
    return isinstance(screen, FormDialog) and bool(screen.query("#field-name")) and all(
        select.query("#label") for select in screen.query(Select))


def fill(pilot: Pilot[Any], **values: str) -> None:
    """Put values into the job form's fields (as typing or choosing them does)."""
    screen = pilot.app.screen
    assert isinstance(screen, FormDialog)
    for name, value in values.items():
        widget = screen.query_one(f"#field-{name}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value


def field(pilot: Pilot[Any], name: str) -> str:
    widget = pilot.app.screen.query_one(f"#field-{name}")
    return str(widget.value)  # type: ignore[attr-defined]


def options(pilot: Pilot[Any], name: str) -> list[str]:
    widget = pilot.app.screen.query_one(f"#field-{name}", Select)
    return [str(prompt) for prompt, _ in widget._options]


def test_add_edit_and_delete_a_usb_job(nas: PolicyMount, tmp_path: Path) -> None:
    make_tree(nas.mnt / "docs")
    with loop_disk(tmp_path, "ext4", 64, label="OFFICE-USB") as (device, uuid):
        generation = _usb_scenario(nas, device, uuid)
        # Deleted from the console: the generation stays on the disk, as the screen said.
        with mounted_disk(device) as disk:
            kept = disk / "nasfs-backup" / "office-usb" / generation
            assert (kept / "notes.txt").read_text() == "remember the milk\n"


def _usb_scenario(nas: PolicyMount, device: str, uuid: str) -> str:
    generation = ""

    async def scenario() -> None:
        nonlocal generation
        app = console(nas)
        async with app.run_test(size=SIZE) as pilot:
            await add_job_form(pilot, "a USB disk",
                               once_shown="No backup jobs yet: press A to add one.")
            disks = options(pilot, "disk")
            mine = [d for d in disks if d.endswith(f"UUID {uuid}")]
            assert mine and "OFFICE-USB" in mine[0] and "67.1 MB ext4" in mine[0], disks
            assert not any(device in d for d in disks)  # never the device name
            fill(pilot, name="office-usb", source="docs", disk=mine[0],
                 schedule="0 25 * * *")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "hour")  # the daemon's words about the bad field
            assert isinstance(app.screen, FormDialog) and jobs(nas) == []
            assert field(pilot, "name") == "office-usb"  # what was typed stays
            fill(pilot, schedule="0 19 * * 1-5", source="nosuch/folder")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "is no share 'nosuch' to back up")
            assert isinstance(app.screen, FormDialog) and jobs(nas) == []
            fill(pilot, source="docs", keep_last="7", exclude="*.tmp, cache/**")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Backup job office-usb added.")
            assert_on_screen(app, "office-usb", "never run")
            added = job(nas, "office-usb")
            assert added.destination.kind == "usb" and added.destination.uuid == uuid
            assert added.destination.path == "nasfs-backup"
            assert added.schedule == "0 19 * * 1-5" and added.retention.keep_last == 7
            assert added.options.exclude == ["*.tmp", "cache/**"]
            assert not added.options.eject and not added.options.verify

            # Edit: every field comes filled in; change schedule, retention and options.
            await pilot.press("e")
            await choose_kind(pilot, "a USB disk")
            assert field(pilot, "disk") == mine[0] and field(pilot, "schedule") == \
                "0 19 * * 1-5" and field(pilot, "exclude") == "*.tmp, cache/**"
            fill(pilot, schedule="30 18 * * *", retention=options(pilot, "retention")[1],
                 include="*.docx", bwlimit="512", verify="yes", eject="yes",
                 verify_schedule="0 3 * * 0", usb_folder="nas/backups")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Backup job office-usb changed.")
            changed = job(nas, "office-usb")
            assert changed.schedule == "30 18 * * *" and changed.retention.smart
            assert changed.destination.path == "nas/backups"
            assert changed.options.include == ["*.docx"]
            assert changed.options.bwlimit_kib == 512 and changed.options.verify
            assert changed.options.eject and changed.options.verify_schedule == "0 3 * * 0"
            assert changed.created_ns == added.created_ns
            # A bad schedule in the edit changes nothing.
            await pilot.press("e")
            await choose_kind(pilot, "a USB disk")
            fill(pilot, schedule="every day")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "five")
            assert isinstance(app.screen, FormDialog) and job(nas, "office-usb") == changed
            fill(pilot, schedule="30 18 * * *", usb_folder="nasfs-backup", bwlimit="",
                 eject="no", verify="no")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Backup job office-usb changed.")

            generation = run_job(nas, "office-usb")["generation"]

            await pilot.press("d")
            await wait_for_text(pilot, "Delete the backup job office-usb?")
            assert_on_screen(app, "Its generations stay where they are, under office-usb/",
                             "nothing there is")
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, BackupsScreen), "the list")
            assert [j.name for j in jobs(nas)] == ["office-usb"]
            await pilot.press("d")
            await wait_for_text(pilot, "Delete the backup job office-usb?")
            await pilot.press("y")
            await wait_for_text(pilot, "Backup job office-usb deleted; its generations stay")
            assert jobs(nas) == []

    run(scenario())
    return generation


def test_a_job_to_another_box_pins_the_host_key_it_showed(nas: PolicyMount) -> None:
    with ssh_server() as (port, sshd_dir):
        right = fingerprint(sshd_dir / "host.pub")
        host_line = " ".join((sshd_dir / "host.pub").read_text().split()[:2])

        async def scenario() -> None:
            app = console(nas)
            async with app.run_test(size=SIZE) as pilot:
                await add_job_form(pilot, "another box over ssh")
                fill(pilot, name="lan", source="docs", box="root@127.0.0.1:/srv/vault",
                     port=str(port))
                await pilot.press("ctrl+s")
                # Shown, put in the field, and nothing pinned until saved again.
                await wait_for_text(pilot, "127.0.0.1 offers ssh-ed25519")
                assert right in str(app.screen.query_one("#form-error").render())
                assert field(pilot, "fingerprint") == right and jobs(nas) == []
                fill(pilot, fingerprint="SHA256:" + "A" * 43)
                await pilot.press("ctrl+s")
                await wait_for_text(pilot, "refused")
                assert jobs(nas) == []
                fill(pilot, fingerprint=right)
                await pilot.press("ctrl+s")
                await wait_for_text(pilot, "Backup job lan added.")
                pinned = job(nas, "lan").destination
                assert pinned.host_key == host_line and pinned.port == port
                assert pinned.path == "/srv/vault"
                # Edited without touching the box: the key stays pinned, asked of no one.
                await pilot.press("e")
                await choose_kind(pilot, "another box over ssh")
                assert field(pilot, "fingerprint") == right
                fill(pilot, schedule="0 2 * * *", name="lan-nightly")
                await pilot.press("ctrl+s")
                await wait_for_text(pilot, "Backup job lan-nightly changed.")
                renamed = job(nas, "lan-nightly")
                assert renamed.destination.host_key == host_line
                assert renamed.destination.job_folder == "lan"  # its generations' folder

        run(scenario())


def test_a_cloud_job_gets_a_copy_of_a_configured_remote(nas: PolicyMount,
                                                         tmp_path: Path) -> None:
    # The first cloud job is made with the command (its secrets typed there); no server is
    # needed to configure it.
    out = cli(nas, "backup", "add", "offsite", "--source", "docs", "--cloud", "webdav",
              "--cloud-option", "url=http://127.0.0.1:9", "--cloud-option", "vendor=other",
              "--cloud-option", "user=office", "--cloud-option", "pass=dav-secret-1",
              "--crypt", "--crypt-password-stdin", stdin="correct horse battery staple\n")
    assert out.returncode == 0, out.stderr
    conf = tmp_path / "state" / "backup" / "rclone.conf"
    before = conf.read_text()

    async def scenario() -> None:
        app = console(nas)
        async with app.run_test(size=SIZE) as pilot:
            await add_job_form(pilot, "a cloud remote", once_shown="offsite")
            offered = options(pilot, "remote")
            assert offered == ["offsite: webdav, encrypted http://127.0.0.1:9"]
            fill(pilot, name="offsite2", source="nosuch", remote=offered[0],
                 cloud_path="second")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "is no share 'nosuch' to back up")
            assert conf.read_text() == before  # refused before any remote was written
            fill(pilot, source="docs")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Backup job offsite2 added.")

    run(scenario())
    copy = job(nas, "offsite2").destination
    assert (copy.kind, copy.remote, copy.crypt, copy.path) == ("cloud", "webdav", True, "second")
    remotes = json.loads(cli(nas, "--json", "backup", "remotes").stdout)
    assert [r["key"] for r in remotes] == ["offsite", "offsite2"]
    # Deleting the first job removes its remote only.
    assert cli(nas, "backup", "del", "offsite").returncode == 0
    remotes = json.loads(cli(nas, "--json", "backup", "remotes").stdout)
    assert remotes == [{"key": "offsite2", "type": "webdav", "crypt": True,
                        "where": "http://127.0.0.1:9"}]
