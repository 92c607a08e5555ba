"""The console's Backups screen against a real daemon and real backup jobs to a folder on
this box: the list with last result, next run and destination space (a USB disk that is not
plugged in says so), a run's progress and then its result, the generations and the files
of one, a file restored from the screen byte-exact, verify, and a running backup stopped
(with the confirmation) leaving no generation and its copy for the next run to continue.

Runs are slowed down with the job's own bandwidth limit (rsync --bwlimit), so the copy is
long enough to be seen running however busy the machine is; nothing here measures time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_console_helpers import assert_on_screen, run, wait_for, wait_for_text
from textual.pilot import Pilot
from textual.widgets import DataTable, ProgressBar, Static

from console import backup_words as words
from console.app import NasConsole
from console.backend import Backend
from console.screens import backup_form as form
from console.screens.backups import BackupsScreen, folder_entries
from nasfs.client import Client
from nasfs.client.backup import (
    BackupClient,
    BackupJob,
    BackupRun,
    DestinationSpace,
    GenerationFile,
    RunProgress,
)
from tests.backup_util import backup_nas, cli, make_tree, picture
from tests.fuse_policy_util import PolicyMount

SIZE = (80, 24)


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def console_for(nas: PolicyMount) -> NasConsole:
    return NasConsole(Backend(nas.socket), require_login=False, poll_s=0.5)


def add_job(nas: PolicyMount, name: str, dest: Path, *extra: str) -> None:
    dest.mkdir(exist_ok=True)
    out = cli(nas, "backup", "add", name, "--source", "docs", "--folder", str(dest), *extra)
    assert out.returncode == 0, out.stderr


def backups(nas: PolicyMount) -> BackupClient:
    return BackupClient(Client.connect(nas.socket))


def test_a_generation_lists_its_folders_then_its_files() -> None:
    files = [GenerationFile(p, s, 0, "") for p, s in
             (("a.txt", 1), ("reports/q1.txt", 10), ("reports/2026/plan.bin", 100),
              ("b.txt", 2))]
    top = folder_entries(files, "")
    assert [(e.name, e.folder, e.size, e.files) for e in top] == [
        ("reports/", True, 110, 2), ("a.txt", False, 1, 1), ("b.txt", False, 2, 1)]
    inner = folder_entries(files, "reports")
    assert [(e.name, e.path) for e in inner] == [("2026/", "reports/2026"),
                                                 ("q1.txt", "reports/q1.txt")]


def test_results_space_and_progress_in_words() -> None:
    done = BackupRun(1, "office", 10**18, 10**18 + 5 * 10**9, "destination_full",
                     detail="no space left on the disk")
    assert words.result_word(done).startswith("FAILED ")
    assert words.result_sentence(done).endswith(
        "FAILED: the destination is full. no space left on the disk")
    assert words.result_word(None) == "never run"
    assert words.space_words(DestinationSpace("j", False, detail="the USB disk with "
                                              "filesystem UUID X is not plugged in")) \
        == "not plugged in"
    assert words.space_words(DestinationSpace("j", False, detail="host gone")) \
        == "not reachable"
    assert words.space_words(DestinationSpace("j", True, 1 << 30, 4 << 30)) \
        == "1.0 GiB free of 4.0 GiB"
    assert words.space_words(DestinationSpace("j", True, None, 4 << 30,
                                              "plugged in: BACKUP 4.3 GB ext4")) == "plugged in"
    # What the last good run measured, when the disk cannot be measured now.
    unplugged = DestinationSpace("j", False, detail="the USB disk with filesystem UUID X is "
                                 "not plugged in", last_free_bytes=72 << 30,
                                 last_total_bytes=250 << 30, last_measured_s=1_000_000.0)
    assert words.space_words(unplugged, now_s=1_000_000.0 + 2 * 86400 + 5) == (
        "not plugged in; 72.0 GiB free when last plugged in, 2 days ago")
    plugged = DestinationSpace("j", True, None, 4 << 30, "plugged in: BACKUP 4.3 GB ext4",
                               last_free_bytes=1 << 30, last_measured_s=500.0)
    assert words.space_words(plugged, now_s=500.0 + 3600) == (
        "plugged in; 1.0 GiB free at the last run, 1 hour ago")
    assert words.ago(30) == "just now" and words.ago(130) == "2 minutes ago"
    copying = RunProgress("copy", bytes_done=3 << 20, total_bytes=12 << 20, files_checked=30,
                          files_total=1030, rate_bytes_per_s=1 << 20, eta_s=9.0)
    assert words.progress_words(copying) == (
        "copying: 3.0 MiB of about 12.0 MiB, 30 of 1030 files, 1.0 MiB/s, 9 s left")
    assert words.progress_words(RunProgress("manifest", elapsed_s=75)) == (
        "listing what was copied (1 min 15 s so far)")


def test_the_job_form_pins_a_key_only_for_a_new_box_or_a_new_fingerprint() -> None:
    """An ssh job edited with its box and fingerprint unchanged keeps its pinned key (no
    host_key in the changes); an empty fingerprint asks the box first; another fingerprint
    or another box is pinned anew (host_key null and ssh_fingerprint)."""
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFsHhq4LkYtS1m1vh3l6Hq3mW0b1HPX0kUu0T2mQ2xJ5"
    pinned = BackupJob.from_json({
        "name": "lan", "source": "docs", "schedule": None, "created_ns": 1,
        "retention": {"keep_last": 30, "smart": False}, "options": {},
        "destination": {"kind": "ssh", "host": "nas2", "port": 22, "user": "root",
                        "path": "/srv/vault", "host_key": line}})
    fp = pinned.destination.host_key_fingerprint
    assert fp is not None and fp.startswith("SHA256:")
    fields = {f.name: f.value for f in form.job_fields("ssh", pinned, form.Choices())}
    assert fields["box"] == "root@nas2:/srv/vault" and fields["fingerprint"] == fp
    assert fields["retention"] == form.KEEP and fields["keep_last"] == "30"

    def request(**changed: str) -> form.JobRequest:
        return form.job_request("ssh", {**fields, **changed}, pinned, form.Choices())

    same = request(schedule="0 2 * * *")
    assert "host_key" not in same.body["destination"] and same.extra == {}
    assert same.scan is None and same.body["schedule"] == "0 2 * * *"
    assert request(fingerprint="").scan == ("nas2", 22)
    other = request(fingerprint="SHA256:other")
    assert other.body["destination"]["host_key"] is None
    assert other.extra == {"ssh_fingerprint": "SHA256:other"}
    moved = request(box="backup@nas3:/srv/b")
    assert moved.body["destination"] == {"kind": "ssh", "host": "nas3", "path": "/srv/b",
                                         "user": "backup", "port": 22, "host_key": None}
    assert form.check_values("ssh", {**fields, "box": "nas3"}) is not None
    assert form.check_values("ssh", {**fields, "keep_last": "300"}) == (
        "Keep 1 to 256 generations.")


def test_run_progress_result_generations_verify_and_restore(nas: PolicyMount,
                                                            tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    # Copied after the small files beside it (rsync goes by name), so while it is copied
    # the files done so far are known. 1 MiB at 128 KiB/s: seconds, long enough to be seen.
    (docs / "zz-big.bin").write_bytes(os.urandom(1 << 20))
    dest = tmp_path / "dest"
    add_job(nas, "office", dest, "--bwlimit", "128", "--schedule", "0 19 * * 1-5")
    # A USB disk that is not plugged in (no disk has this filesystem UUID).
    out = cli(nas, "backup", "add", "usb-copy", "--source", "docs", "--usb", "0000-DEAD")
    assert out.returncode == 0, out.stderr

    async def scenario() -> None:
        app = console_for(nas)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "Backups")
            await pilot.press("9")
            await wait_for(pilot, lambda: isinstance(app.screen, BackupsScreen),
                           "the Backups screen")
            await wait_for_text(pilot, "never run")
            await wait_for_text(pilot, "free of")  # the folder's space
            await wait_for_text(pilot, "not plugged in")  # the USB disk's
            assert_on_screen(app, "office", "usb-copy", "by hand", "It has not run yet.")
            await pilot.press("down")  # the USB job: where it goes, and why it cannot
            await wait_for_text(pilot, "USB disk 0000-DEAD:/nasfs-backup (the USB disk with "
                                       "filesystem UUID 0000-DEAD is not plugged in)")
            await pilot.press("up")
            await wait_for_text(pilot, "folder " + str(dest))

            await pilot.press("b")
            await wait_for_text(pilot, "Backup of office started.")
            await wait_for_text(pilot, "Backing up office: copying")
            await wait_for(pilot, lambda: all(w in _numbers(app) for w in (
                "of about", " files, ", "/s, ", " left")), "bytes, files, rate, time left")
            bar = app.screen.query_one("#run-bar", ProgressBar)
            assert bar.total is not None and 0 < bar.progress <= bar.total
            assert_on_screen(app, "RUNNING", "Running since")
            await wait_for_text(pilot, "Last run")
            await wait_for(pilot, lambda: "OK" in _job_row(app, "office"), "the result OK")
            assert_on_screen(app, "generation", "Last run")

            await pilot.press("g")
            await wait_for_text(pilot, "Generations of office: 1")
            gen = backups(nas).generations("office")[0].name
            assert_on_screen(app, gen)
            await wait_for_focus(pilot, "browse")
            await pilot.press("enter")
            await wait_for_text(pilot, "reports/")
            # reports/, notes.txt, q1-again.txt, zz-big.bin
            await wait_for_focus(pilot, "browse")
            await pilot.press("down")
            want = picture(docs)["notes.txt"]
            os.unlink(docs / "notes.txt")
            await pilot.press("r")
            await wait_for_focus(pilot, "field-path")
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Restored 1 file(s)")
            assert_on_screen(app, "to docs/notes.txt")
            assert picture(docs)["notes.txt"] == want  # bytes, mode, owner, times, xattrs

            # A folder, elsewhere: typed under "Restore as".
            await wait_for_focus(pilot, "browse")  # back from the dialog
            await pilot.press("up")  # reports/
            await pilot.press("r")
            await wait_for_focus(pilot, "field-path")
            await pilot.press("tab", "tab")
            await wait_for_focus(pilot, "field-to")
            await pilot.press(*"docs/old-reports", "ctrl+s")
            await wait_for_text(pilot, "Restored 2 file(s)")
            assert_on_screen(app, "to docs/old-reports")
            assert picture(docs / "old-reports") == picture(docs / "reports")

            await wait_for_focus(pilot, "browse")
            await pilot.press("backspace")
            await wait_for_text(pilot, "Generations of office: 1")
            await pilot.press("v")
            await wait_for_text(pilot, "read back and match what was copied")

    run(scenario())


def _job_row(app: NasConsole, job: str) -> str:
    table = app.screen.query_one("#jobs", DataTable)
    return " ".join(str(c) for c in table.get_row(job))


async def wait_for_focus(pilot: Pilot[Any], widget_id: str) -> None:
    """Keys go to the focused widget: wait until it is `widget_id` (a dialog's first field,
    a table just filled) before pressing them."""
    await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", None) == widget_id,
                   f"the focus on #{widget_id}")


def _numbers(app: NasConsole) -> str:
    return str(app.screen.query_one("#run-numbers", Static).render())


def test_a_running_backup_is_stopped_after_confirming(nas: PolicyMount,
                                                      tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    (docs / "big.bin").write_bytes(os.urandom(8 << 20))
    dest = tmp_path / "dest"
    # 8 MiB at 64 KiB/s would take two minutes: it is stopped long before.
    add_job(nas, "office", dest, "--bwlimit", "64")

    async def scenario() -> None:
        app = console_for(nas)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "Backups")
            await pilot.press("9")
            await wait_for_text(pilot, "never run")
            await pilot.press("c")
            await wait_for_text(pilot, "The highlighted job is not running.")
            await pilot.press("b")
            await wait_for_text(pilot, "Backing up office: copying")
            await pilot.press("c")
            await wait_for_text(pilot, "Stop the backup of office?")
            await pilot.press("n")  # no: it goes on
            await wait_for_text(pilot, "Backing up office")
            await pilot.press("c")
            await wait_for_text(pilot, "Stop the backup of office?")
            await pilot.press("y")
            await wait_for_text(pilot, "Backup of office stopped.")
            await wait_for(pilot, lambda: "STOPPED" in _job_row(app, "office"),
                           "the result STOPPED")
            await wait_for_text(pilot, "the next run continues it")

    run(scenario())
    status = backups(nas).status("office")[0]
    assert status.last_run is not None and status.last_run.result == "cancelled"
    assert not status.running and status.last_success is None
    names = sorted(os.listdir(dest / "office"))
    assert len(names) == 1 and names[0].startswith(".incomplete-"), names
