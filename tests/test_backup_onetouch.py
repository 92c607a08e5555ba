"""One-touch copy with a real udev event: the test starts systemd-udevd when none runs,
then "plugs in" a disk (attaches a loop device holding the job's filesystem); the job runs
by itself, unmounts the disk and says it may be removed. Unplugging and plugging the same
disk in again runs it again; our own unmount does not."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.backup.onetouch import udev_running
from tests.backup_util import backup_nas, cli, make_tree, mounted_disk, picture
from tests.fuse_policy_util import PolicyMount

UDEVD = next((p for p in ("/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd")
              if os.path.exists(p)), None)


@pytest.fixture
def udev() -> Iterator[None]:
    if udev_running():
        yield
        return
    if UDEVD is None:
        pytest.skip("no systemd-udevd on this machine (Debian package udev)")
    proc = subprocess.Popen([UDEVD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not udev_running():
            assert proc.poll() is None and time.monotonic() < deadline, "udevd did not start"
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture
def nas(tmp_path: Path, udev: None) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def wait_runs(nas: PolicyMount, job: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        s = nas.call("backup.status", {"name": job})[0]
        gens = [g for g in (s["last_success"],) if g]
        if not s["running"] and not s["queued"] and gens and \
                len(nas.call("backup.generations", {"name": job})) >= count:
            return list(nas.call("backup.generations", {"name": job}))
        time.sleep(0.2)
    events = [e for e in nas.call("status").get("events", []) if e.get("source") == "backup"]
    raise AssertionError(f"backup {job} did not run {count} times by itself: status "
                         f"{nas.call('backup.status', {'name': job})}, events {events}")


def test_plugging_the_disk_in_runs_its_job(nas: PolicyMount, tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    image = tmp_path / "usb.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "STICK", str(image)], check=True)
    uuid = subprocess.run(["blkid", "-s", "UUID", "-o", "value", str(image)], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert cli(nas, "backup", "add", "stick", "--source", "docs", "--usb", uuid).returncode == 0
    status = json.loads(cli(nas, "--json", "backup", "status", "stick").stdout)[0]
    assert status["one_touch"] is True
    time.sleep(6)  # the disk watch starts within its retry period (5 s) of the daemon
    device = subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        gens = wait_runs(nas, "stick", 1)
        assert len(gens) == 1
        where = nas.run_dir / "backup" / f"usb-{uuid}"
        assert not os.path.ismount(where)
        rows = nas.admin.log_query("system", limit=100).rows
        assert any(r["operation"] == "backup.finished" for r in rows)
        events = nas.call("status").get("events", [])
        kinds = [e.get("kind") for e in events]
        assert "backup-disk-plugged" in kinds and "backup-disk-removable" in kinds, kinds
        # Our own unmount made udev re-read the disk: that did not start it again.
        time.sleep(3)
        assert len(nas.call("backup.generations", {"name": "stick"})) == 1
        with mounted_disk(device) as disk:
            gen = disk / "nasfs-backup" / "stick" / str(gens[0]["name"])
            assert picture(gen) == picture(docs)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)
    replug(nas, image)


def replug(nas: PolicyMount, image: Path) -> None:
    """Unplugged and plugged in again (a second later: a new generation stamp): the job runs
    again, although the test's polling of `backup.generations` mounts the same disk at the
    same place while the run starts (one mount, shared: the listing's unmount used to pull
    the filesystem out from under the run)."""
    time.sleep(1.1)
    device = subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        assert len(wait_runs(nas, "stick", 2)) == 2
    finally:
        subprocess.run(["losetup", "-d", device], check=False)
