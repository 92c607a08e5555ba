"""Backups to USB disks: real filesystems on loop devices (ext4, exFAT, NTFS through ntfs-3g,
FAT32 where the kernel has vfat), found by UUID,
mounted by nasfs and unmounted after; a disk pulled mid-run (lazy unmount of nasfs's mount)
and a full disk fail clearly and leave the earlier generations as they were."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import (
    backup_nas,
    cli,
    loop_disk,
    make_tree,
    mounted_disk,
    picture,
    run_job,
    wait_finished,
    wait_running,
)
from tests.fuse_policy_util import PolicyMount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def test_ext4_disk_by_uuid_and_pulled_mid_run(nas: PolicyMount, tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    with loop_disk(tmp_path, "ext4", 96) as (device, uuid):
        listed = json.loads(cli(nas, "--json", "backup", "disks").stdout)
        mine = next(d for d in listed if d["uuid"] == uuid)
        assert mine["device"] == device and mine["fstype"] == "ext4"
        assert mine["label"] == "BACKUP" and mine["size"] == 96 << 20
        out = cli(nas, "backup", "add", "usb", "--source", "docs", "--usb", uuid,
                  "--keep-last", "3")
        assert out.returncode == 0, out.stderr
        first = run_job(nas, "usb")
        assert "may be removed" in first["removable"]
        where = nas.run_dir / "backup" / f"usb-{uuid}"
        assert not os.path.ismount(where)  # unmounted after the job
        with mounted_disk(device) as disk:
            gen1 = disk / "nasfs-backup" / "usb" / first["generation"]
            assert picture(gen1) == picture(docs)
            before = picture(gen1)

        # Pull the disk mid-run: the run fails as such, the first generation is intact.
        (docs / "big.bin").write_bytes(os.urandom(12 << 20))
        assert cli(nas, "backup", "edit", "usb", "--bwlimit", "2000").returncode == 0
        nas.call("backup.run", {"name": "usb", "wait": False})
        wait_running(nas, "usb", min_bytes=1 << 20)
        assert os.path.ismount(where)
        subprocess.run(["umount", "-l", str(where)], check=True)
        last = wait_finished(nas, "usb")
        assert last["result"] == "destination_missing", last
        assert "went away" in str(last["detail"])
        with mounted_disk(device) as disk:
            folder = disk / "nasfs-backup" / "usb"
            assert picture(folder / first["generation"]) == before
            names = sorted(os.listdir(folder))
            assert [n for n in names if n.startswith(".incomplete-")], names
            assert [n for n in names if not n.startswith(".")] == [
                first["generation"], first["generation"] + ".manifest"]

        # Plugged in again: the next run continues and completes.
        assert cli(nas, "backup", "edit", "usb", "--bwlimit", "0").returncode == 0
        second = run_job(nas, "usb")
        with mounted_disk(device) as disk:
            folder = disk / "nasfs-backup" / "usb"
            assert not [n for n in os.listdir(folder) if n.startswith(".incomplete-")]
            assert picture(folder / second["generation"]) == picture(docs)
        assert cli(nas, "backup", "verify", "usb").returncode == 0


def test_a_disk_not_plugged_in_is_a_clear_failure(nas: PolicyMount) -> None:
    assert cli(nas, "backup", "add", "usb", "--source", "docs", "--usb",
               "0123-4567").returncode == 0
    out = cli(nas, "backup", "run", "usb")
    assert out.returncode == 1
    assert "destination_missing" in out.stdout and "not plugged in" in out.stdout
    rows = nas.admin.log_query("system", limit=50).rows
    assert any(r["operation"] == "backup.failed" and r["result"] == "destination_missing"
               for r in rows)


def test_a_disk_the_system_has_mounted_is_never_a_destination(nas: PolicyMount,
                                                              tmp_path: Path) -> None:
    """A disk mounted elsewhere (the system's disk, an array member's, one mounted by hand)
    is refused when the job is added and when a run would mount it: nasfs would otherwise
    fill it with the backup and, with --eject, pull it out from under the system."""
    make_tree(nas.mnt / "docs")
    with loop_disk(tmp_path, "ext4", 48) as (device, uuid), mounted_disk(device) as inside:
        (inside / "system-file").write_text("the system's own data\n")
        added = cli(nas, "backup", "add", "usb", "--source", "docs", "--usb", uuid,
                    "--eject")
        assert added.returncode != 0
        assert "in use by this system" in added.stderr and str(inside) in added.stderr
        assert "usb" not in cli(nas, "backup", "list").stdout
        # Added while the disk was elsewhere (unplugged), then plugged in and mounted by
        # hand before the run: the run fails as such and writes nothing onto the disk.
        subprocess.run(["umount", str(inside)], check=True)
        assert cli(nas, "backup", "add", "usb", "--source", "docs", "--usb", uuid,
                   "--eject").returncode == 0
        subprocess.run(["mount", device, str(inside)], check=True)
        out = json.loads(cli(nas, "--json", "backup", "run", "usb").stdout)
        assert out["result"] == "failed" and "in use by this system" in str(out["detail"])
        assert sorted(os.listdir(inside)) == ["lost+found", "system-file"]
        assert os.path.ismount(inside) and Path(device).exists()  # neither unmounted nor ejected
        assert not os.path.ismount(nas.run_dir / "backup" / f"usb-{uuid}")


KERNEL_FILESYSTEMS = Path("/proc/filesystems").read_text().split()


@pytest.mark.parametrize("fstype", [
    "exfat",
    pytest.param("vfat", marks=pytest.mark.skipif(
        "vfat" not in KERNEL_FILESYSTEMS,
        reason="FAT32 needs the kernel's vfat driver, which this kernel lacks "
               "(not in /proc/filesystems; no modules to load)")),
])
def test_fat_like_generations_are_full_copies(nas: PolicyMount, tmp_path: Path,
                                              fstype: str) -> None:
    """exFAT and FAT32: no hard links, owners, modes, symlinks or xattrs."""
    docs = nas.mnt / "docs"
    make_tree(docs)
    with loop_disk(tmp_path, fstype, 64) as (device, uuid):
        assert cli(nas, "backup", "add", "usb", "--source", "docs", "--usb", uuid,
                   "--usb-folder", "backups/nas", "--verify").returncode == 0
        first = run_job(nas, "usb")
        (docs / "notes.txt").write_text("changed\n")
        second = run_job(nas, "usb")
        want = {k: v for k, v in picture(docs, posix=False).items() if k != "link-to-notes"}
        with mounted_disk(device) as disk:
            folder = disk / "backups" / "nas" / "usb"
            g1, g2 = folder / first["generation"], folder / second["generation"]
            # Content and times, no symlinks (exFAT and FAT hold none); two full copies.
            got = picture(g2, posix=False)
            assert {k: v[:2] for k, v in got.items()} == {k: v[:2] for k, v in want.items()}
            for k, v in got.items():  # times kept (exFAT/FAT: to 2 s)
                assert v[2] is None or abs(v[2] - want[k][2]) <= 2, k
            assert (g1 / "notes.txt").read_text() == "remember the milk\n"
            assert os.stat(g2 / "reports/q1.txt").st_nlink == 1
            assert (g1 / "reports/q1.txt").read_bytes() == (g2 / "reports/q1.txt").read_bytes()
        assert cli(nas, "backup", "verify", "usb", first["generation"]).returncode == 0
        os.unlink(docs / "reports" / "q1.txt")
        out = json.loads(cli(nas, "--json", "backup", "restore", "usb",
                             "reports/q1.txt").stdout)
        assert out["path"] == "docs/reports/q1.txt"
        assert (docs / "reports" / "q1.txt").read_bytes() == b"quarter one\n" * 1000


def test_ntfs_keeps_links_times_and_xattrs_and_links_unchanged_files(
        nas: PolicyMount, tmp_path: Path) -> None:
    """NTFS through ntfs-3g holds hard links, symlinks, times and xattrs but not owners or
    modes (every file shows as root's, 0777): an unchanged file is still hard-linked to the
    previous generation, because owners and modes are not compared."""
    docs = nas.mnt / "docs"
    make_tree(docs)
    with loop_disk(tmp_path, "ntfs", 64) as (device, uuid):
        listed = json.loads(cli(nas, "--json", "backup", "disks").stdout)
        assert next(d for d in listed if d["uuid"] == uuid)["fstype"] == "ntfs"
        assert cli(nas, "backup", "add", "usb", "--source", "docs", "--usb", uuid,
                   "--verify").returncode == 0
        first = run_job(nas, "usb")
        (docs / "notes.txt").write_text("changed\n")
        second = run_job(nas, "usb")
        assert second["sent_bytes"] < first["sent_bytes"] / 10, (first, second)
        with mounted_disk(device) as disk:
            folder = disk / "nasfs-backup" / "usb"
            g1, g2 = folder / first["generation"], folder / second["generation"]
            want, got = picture(docs), picture(g2)
            assert got.keys() == want.keys()
            for rel, (kind, _mode, _uid, _gid, body, mtime, xattrs) in want.items():
                # NTFS keeps times to 100 ns.
                ntfs_time = None if mtime is None else mtime // 100
                kept = got[rel][5]
                assert (got[rel][0], got[rel][4], None if kept is None else kept // 100,
                        got[rel][6]) == (kind, body, ntfs_time, xattrs), rel
            # Unchanged: one file in both generations; the changed one is not.
            plan = "reports/2026/plan.bin"
            assert os.stat(g1 / plan).st_ino == os.stat(g2 / plan).st_ino
            assert os.stat(g1 / "notes.txt").st_ino != os.stat(g2 / "notes.txt").st_ino
            # The hard link inside the tree is one file on the disk too.
            assert os.stat(g2 / "q1-again.txt").st_ino == os.stat(g2 / "reports/q1.txt").st_ino
        assert cli(nas, "backup", "verify", "usb", first["generation"]).returncode == 0
        os.unlink(docs / "notes.txt")
        out = json.loads(cli(nas, "--json", "backup", "restore", "usb", "notes.txt").stdout)
        assert out["path"] == "docs/notes.txt"
        assert (docs / "notes.txt").read_text() == "changed\n"
        assert os.getxattr(docs / "notes.txt", "user.colour") == b"blue"


def test_a_full_disk_fails_clearly_and_rotates_nothing(nas: PolicyMount,
                                                       tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    with loop_disk(tmp_path, "ext4", 24) as (device, uuid):
        assert cli(nas, "backup", "add", "usb", "--source", "docs", "--usb", uuid,
                   "--keep-last", "1").returncode == 0
        first = run_job(nas, "usb")
        (docs / "big.bin").write_bytes(os.urandom(30 << 20))
        out = cli(nas, "--json", "backup", "run", "usb")
        assert out.returncode == 1
        failed = json.loads(out.stdout)
        assert failed["result"] == "destination_full", failed
        assert "full" in failed["detail"]
        with mounted_disk(device) as disk:
            folder = disk / "nasfs-backup" / "usb"
            gens = sorted(n for n in os.listdir(folder) if not n.startswith("."))
            assert gens == [first["generation"], first["generation"] + ".manifest"]
            assert (folder / first["generation"] / "notes.txt").read_text() == \
                "remember the milk\n"
        status = json.loads(cli(nas, "--json", "backup", "status", "usb").stdout)[0]
        assert status["last_run"]["result"] == "destination_full"
        assert status["last_success"]["generation"] == first["generation"]


def test_overlapping_operations_share_one_mount_and_a_stale_one_is_cleared(
        tmp_path: Path) -> None:
    """A run and a generations listing (or verify) of the same disk overlap: the first
    mounts it, the last unmounts it; a mount left at nasfs's place by a daemon that died
    is unmounted and the disk mounted afresh (one mount there, not two)."""
    from nasfs.backup import usb

    run_dir = tmp_path / "run"

    def mounts_at(where: Path) -> int:
        return sum(1 for line in Path("/proc/self/mountinfo").read_text().splitlines()
                   if line.split()[4] == str(where))

    with loop_disk(tmp_path, "ext4", 32) as (device, uuid):
        where = usb.mount_dir(run_dir, uuid)
        with usb.mounted(run_dir, uuid) as (outer, disk):
            assert disk.device == device
            (outer / "kept").write_text("written by the first user")
            with usb.mounted(run_dir, uuid) as (inner, _):
                assert inner == outer and mounts_at(where) == 1
            # The second user's end did not unmount it from under the first.
            assert usb.is_mounted_here(where, uuid) and usb.in_use(run_dir, uuid)
            assert (outer / "kept").read_text() == "written by the first user"
        assert not os.path.ismount(where) and not usb.in_use(run_dir, uuid)
        subprocess.run(["mount", device, str(where)], check=True)  # left by a dead daemon
        with usb.mounted(run_dir, uuid) as (again, _):
            assert mounts_at(where) == 1
            assert (again / "kept").read_text() == "written by the first user"
        assert not os.path.ismount(where) and mounts_at(where) == 0
