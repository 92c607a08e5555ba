"""A generation that a run reported complete survives a power cut of its disk.

rsync and `cp -al` write without fsync, so a run must write the copy back itself before
its manifest and its name say it is complete (and before retention removes an older
generation). The power cut is real at the filesystem level: EXT4_IOC_SHUTDOWN with
EXT4_GOING_FLAGS_NOLOGFLUSH stops the destination's ext4 at once, flushing neither its
journal nor its dirty pages (what xfstests' `godown` does), so after an unmount and a
mount the disk holds only what had reached it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import (
    add_folder_job,
    backup_nas,
    cli,
    loop_disk,
    make_tree,
    picture,
    run_job,
)
from tests.diskfail_util import shut_down
from tests.fuse_policy_util import PolicyMount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")

@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def test_a_finished_generation_survives_a_power_cut_of_its_disk(nas: PolicyMount,
                                                                tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    for i in range(8):  # distinct data, well below any dirty-page threshold of the machine
        (docs / f"big{i}.bin").write_bytes(os.urandom(1 << 20))
    disk = tmp_path / "disk"
    disk.mkdir()
    with loop_disk(tmp_path, "ext4", 64) as (device, _uuid):
        subprocess.run(["mount", device, str(disk)], check=True)
        try:
            add_folder_job(nas, "docs", disk / "backups", "--keep-last", "1")
            first = run_job(nas, "docs")
            (docs / "notes.txt").write_text("changed after the first run\n")
            (docs / "new.bin").write_bytes(os.urandom(1 << 20))
            second = run_job(nas, "docs")  # retention removes the first generation
            shut_down(disk)  # the power cut
        finally:
            subprocess.run(["umount", str(disk)], check=True)
        subprocess.run(["mount", device, str(disk)], check=True)
        try:
            folder = disk / "backups" / "docs"
            listed = json.loads(cli(nas, "--json", "backup", "generations", "docs").stdout)
            assert [g["name"] for g in listed] == [second["generation"]]
            assert picture(folder / second["generation"]) == picture(docs)
            verified = cli(nas, "--json", "backup", "verify", "docs")
            assert verified.returncode == 0, verified.stdout + verified.stderr
            # Whatever the cut left of the first generation's removal is no generation, and
            # the next run finishes removing it.
            assert not (folder / f"{first['generation']}.manifest").exists()
            third = run_job(nas, "docs")
            assert sorted(n for n in os.listdir(folder) if not n.startswith(".")) == [
                third["generation"], third["generation"] + ".manifest"]
        finally:
            subprocess.run(["umount", str(disk)], check=True)


def test_flush_puts_files_written_without_fsync_on_the_disk(tmp_path: Path) -> None:
    """What rsync leaves (files written and renamed, never fsynced) is on the disk once
    the place is flushed; without the flush this filesystem loses it in the cut (the
    files come back empty)."""
    from nasfs.backup.places import LocalPlace

    disk = tmp_path / "disk"
    disk.mkdir()
    with loop_disk(tmp_path, "ext4", 64) as (device, _uuid):
        subprocess.run(["mount", device, str(disk)], check=True)
        place = LocalPlace(disk / "job", hardlinks=True, posix=True)
        try:
            place.prepare()
            (disk / "job" / "gen").mkdir()
            data = {f"f{i}": os.urandom(256 << 10) for i in range(4)}
            for name, body in data.items():
                (disk / "job" / "gen" / f".{name}.tmp").write_bytes(body)
                os.rename(disk / "job" / "gen" / f".{name}.tmp", disk / "job" / "gen" / name)
            place.flush()
            shut_down(disk)  # the power cut
        finally:
            subprocess.run(["umount", str(disk)], check=True)
        subprocess.run(["mount", device, str(disk)], check=True)
        try:
            assert {p.name: p.read_bytes() for p in (disk / "job" / "gen").iterdir()} == data
        finally:
            subprocess.run(["umount", str(disk)], check=True)
