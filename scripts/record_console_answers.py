#!/usr/bin/env python3
"""Regenerate tests/test_console_recorded.json from a live daemon.

    .venv/bin/python scripts/record_console_answers.py [--out FILE] [--only KEY ...]

Makes a small array in a temporary directory, mounts it with `nasfs mount` (a real daemon,
its own process), puts the office of the console snapshots on it (users alice and bob, the
group office, the shares docs and scans, two snapshots, a schedule, two items in the trash,
mail settings, a backup job to a folder beside the mount point that has run once and one
to a USB disk that is not plugged in, and SMB on: a real smbd, the daemon's child, on
127.0.0.1 at a free port with its state below the temporary directory, as
tests/smb_util.py runs it), records the daemon's answers to what the console asks (smbd's
status and sessions while alice is connected over SMB), switches SMB off, stops the daemon,
mounts the array again with a disk missing for the degraded status, and writes the answers
with the values that change from run to run (uuid, pids, times, hashes, paths, generation
names, a destination's space, smbd's port) replaced by fixed ones, and the disks and cloud
remotes the backup job form offers set to fixed ones (FIXED_DISKS, FIXED_REMOTES).
Sizes are the small array's: after regenerating, run
`pytest tests/test_console_snapshots.py --snapshot-update` and look at the pictures.
`--only backup. methods` records everything but writes only the answers whose keys start
with one of those words into the existing file, keeping the others as they are: the
pictures of the other screens keep their values (the dashboard's large capacity figures
and error counts were set by hand in the recording, not recorded from the small array).

tests/test_console_recorded_shape.py uses `set_up` and `record` below against a live
daemon and fails when the daemon's answers no longer have the recording's shape.

SMB needs the NAS accounts published to the system (libnss-extrausers, `scripts/setup`), so
the machine's /var/lib/extrausers files are saved first and put back afterwards, under the
lock the tests take (tests/os_accounts_util.py); the uids 1001 and 1002 and the gid 2000
must be free on the machine. Needs root, as the tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from smbprotocol.tree import TreeConnect  # noqa: E402

from nasfs.client import Client  # noqa: E402
from nasfs.store import Store  # noqa: E402
from tests.os_accounts_util import preserved_extrausers  # noqa: E402
from tests.smb_util import HOST, free_port, smb_session  # noqa: E402

DEFAULT_OUT = REPO / "tests" / "test_console_recorded.json"
ABOUT = ("Answers of a real nasfs daemon (tests/test_console_snapshots.py replays them); "
         "paths, uuid, pid, times and sizes were replaced by fixed values so the snapshots "
         "do not change from run to run. Regenerate with scripts/record_console_answers.py; "
         "tests/test_console_recorded_shape.py fails when a live daemon's answers no longer "
         "have this shape.")
PASSWORD = "correct horse battery"
Call = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class SmbPlace:
    """Where the recording's smbd listens and keeps its state (configuration, passdb, log)."""

    port: int
    state_dir: Path

    @classmethod
    def beside(cls, mountpoint: Path) -> SmbPlace:
        return cls(free_port(), mountpoint.parent / "smb")


def set_up(call: Call, mountpoint: Path, smb: SmbPlace) -> None:
    """The office the console snapshots show, made through the daemon's methods. SMB's
    settings come first: Samba's passdb lives in its state directory, so the passwords set
    below reach it only once that is where it will be."""
    for key, value in (("os.accounts", True), ("smb.port", smb.port), ("smb.interfaces", HOST),
                       ("smb.state_dir", str(smb.state_dir))):
        call("settings.set", {"key": key, "value": value})
    call("user.add", {"name": "root", "uid": 0, "password": PASSWORD})
    for name, uid in (("alice", 1001), ("bob", 1002)):
        call("user.add", {"name": name, "uid": uid, "password": PASSWORD})
    call("group.add", {"name": "office", "gid": 2000})
    for user in ("alice", "bob"):
        call("group.adduser", {"group": "office", "user": user})
    call("share.create", {"name": "docs", "trash_days": 30})
    call("share.acl", {"name": "docs", "kind": "group", "principal": "office", "access": "rw"})
    call("share.acl", {"name": "docs", "kind": "user", "principal": "bob", "access": "ro"})
    call("share.create", {"name": "scans", "hidden": True})
    call("share.acl", {"name": "scans", "kind": "everyone", "principal": None, "access": "ro"})
    docs = mountpoint / "docs"
    (docs / "budget.ods").write_bytes(b"x" * 5000)
    (docs / "plan.txt").write_bytes(b"the plan")
    call("snapshot.create", {"name": "before-edit", "locked": True})
    # Backed up before the edits below: the generation holds both files.
    backup_dest = mountpoint.parent / "backup-dest"
    backup_dest.mkdir(exist_ok=True)
    call("backup.add", {"job": {"name": "office", "source": "docs", "schedule": "0 19 * * 1-5",
                                "destination": {"kind": "folder", "path": str(backup_dest)}}})
    call("backup.add", {"job": {"name": "usb-copy", "source": "docs", "destination": {
        "kind": "usb", "uuid": "0000-DEAD", "path": "nasfs-backup"}}})
    done = call("backup.run", {"name": "office", "wait": True})
    assert done["result"] == "ok", done
    (docs / "budget.ods").unlink()
    with open(docs / "plan.txt", "r+b") as f:
        f.truncate(0)
    call("snapshot.create", {})
    call("snapshot.schedule.set", {"name": "nightly", "cron": "0 2 * * *", "keep_daily": 14,
                                   "keep_weekly": 8})
    for key, value in (("mail.host", "mail.example.com"), ("mail.from", "nas@example.com"),
                       ("mail.to", ["admin@example.com"]), ("mail.password", "s3cret!"),
                       ("mail.enabled", True)):
        call("settings.set", {"key": key, "value": value})
    call("settings.set", {"key": "smb.enabled", "value": True})


def stop_smb(call: Call) -> None:
    """SMB off (the daemon stops its smbd), before the daemon goes: no smbd outlives it."""
    call("settings.set", {"key": "smb.enabled", "value": False})


def record(call: Call, client: Client, smb: SmbPlace) -> dict[str, Any]:
    """The answers the console's screens are built from (keys as in the recording)."""
    with smb_session(smb.port, "alice", PASSWORD) as session:
        tree = TreeConnect(session, rf"\\{HOST}\docs")
        tree.connect()
        smb_answers = {"smb.status": call("smb.status", {}),
                       "smb.sessions": call("smb.sessions", {})}
        tree.disconnect()
    progress: list[dict[str, Any]] = []
    client.call("flush", {})
    client.call("scrub", {}, on_progress=progress.append)
    answers: dict[str, Any] = {
        "healthy": call("status", {}),
        "methods": call("methods", {}),
        "user.list": call("user.list", {}),
        "group.list": call("group.list", {}),
        "share.list": call("share.list", {}),
        "share.effective": call("share.effective", {"name": "docs", "user": "bob"}),
        "settings.get": call("settings.get", {}),
        "log.query": call("log.query", {"kind": "system", "limit": 100}),
        "snapshot.list": call("snapshot.list", {}),
        "snapshot.diff": call("snapshot.diff", {"id": 1}),
        "snapshot.schedule.list": call("snapshot.schedule.list", {}),
        "trash.list": call("trash.list", {}),
        "trash.usage": call("trash.usage", {}),
        "scrub.progress": progress,
        "backup.list": call("backup.list", {}),
        "backup.status": call("backup.status", {}),
        "backup.space.office": call("backup.space", {"name": "office"}),
        "backup.space.usb-copy": call("backup.space", {"name": "usb-copy"}),
        "backup.disks": call("backup.disks", {}),
        "backup.remotes": call("backup.remotes", {}),
        "backup.generations": call("backup.generations", {"name": "office"}),
        "backup.generations.files": call("backup.generations", {"name": "office",
                                                                "generation": None,
                                                                "path": ""}),
        **smb_answers,
    }
    return answers


FIXED_UUID = "0123456789abcdef0123456789abcdef"
FIXED_PID = 4242
FIXED_SMB_PORT = 445
FIXED_TIME_S = 1_790_000_000
FIXED_STAMP = "2026-09-21T120000Z"  # a backup generation's name (its UTC time)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d{6}Z")
# A backup destination's room: the test machine's disk, not the picture's business.
FIXED_SPACE = {"free_bytes": 40 << 30, "total_bytes": 100 << 30,
               "last_free_bytes": 40 << 30, "last_total_bytes": 100 << 30}

# The disks and cloud remotes the job form offers: the recording machine's disks (and the
# recording's lack of a cloud job) are not the picture's business. In the shape of a live
# answer (backup.disks: nasfs.backup.usb.Disk; backup.remotes: nasfs.backup.cloud.remotes).
FIXED_DISKS = [{"uuid": "5f1c2d3e-0a1b-4c5d-8e9f-a0b1c2d3e4f5", "device": "/dev/sdc1",
                "fstype": "ext4", "label": "OFFICE-USB", "model": "SanDisk Extreme",
                "size": 500_107_862_016, "mountpoints": [],
                "describe": "OFFICE-USB SanDisk Extreme 500.1 GB ext4"},
               {"uuid": "7A3B-1C2D", "device": "/dev/sdd1", "fstype": "exfat",
                "label": "CAMERA", "model": "Kingston DataTraveler", "size": 63_999_836_160,
                "mountpoints": [], "describe": "CAMERA Kingston DataTraveler 64.0 GB exfat"}]
FIXED_REMOTES = [{"key": "offsite", "type": "s3", "crypt": True,
                  "where": "https://s3.eu-central-1.amazonaws.com"}]


def normalize(value: Any, paths: dict[str, str], state: dict[str, int] | None = None) -> Any:
    """`value` with the run's own values replaced by fixed ones (see the module docstring)."""
    state = state if state is not None else {"time": 0}

    def fixed(key: str, v: Any) -> Any:
        if key == "array_uuid" and isinstance(v, str):
            return FIXED_UUID
        if key in ("daemon_pid", "pid") and isinstance(v, int):
            return FIXED_PID
        if key == "process" and isinstance(v, str):
            return "python"
        if key == "uptime_s" and isinstance(v, int | float):
            return 5012.3
        if key in ("port", "smb.port") and isinstance(v, int):
            return FIXED_SMB_PORT  # smbd's own, where the recording's is a free one
        if key in FIXED_SPACE and isinstance(v, int):
            return FIXED_SPACE[key]
        if key in ("time", "created_ns", "deleted_ns", "time_ns", "last_run_ns", "started_ns",
                   "finished_ns", "mtime_ns", "time_s", "next_run_s",
                   "last_measured_s") and (
                isinstance(v, int | float) and not isinstance(v, bool)):
            state["time"] += 1
            seconds = FIXED_TIME_S + 60 * state["time"]
            return float(seconds) if key in ("time", "time_s", "next_run_s",
                                             "last_measured_s") \
                else seconds * 10**9
        if key == "hash" and isinstance(v, str):
            state["time"] += 1
            return f"{state['time']:064x}"
        return walk(v)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: fixed(k, x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            for real, shown in paths.items():
                v = v.replace(real, shown)
            return STAMP.sub(FIXED_STAMP, v)
        return v

    return walk(value)


def _nasfs(env: dict[str, str], *args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "nasfs.cli.main", *map(str, args)], env=env,
                   cwd=REPO, check=True, capture_output=True, text=True, timeout=300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", metavar="KEY",
                        help="write only the answers whose keys start with these, keeping "
                             "the rest of --out")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nasfs-record-"))
    os.chmod(base, 0o711)  # smbd serves alice as alice: she must reach the mount point
    env = dict(os.environ, NASFS_RUN_DIR=str(base / "run"), NASFS_LOG_DIR=str(base / "log"))
    env.pop("NASFS_SOCKET", None)
    members = [base / f"disk{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1, segment_bytes=1 << 20, max_shard_bytes=64 << 10)
    mnt = base / "mnt"
    mnt.mkdir()
    smb = SmbPlace.beside(mnt)
    paths = {str(base / "backup-dest"): "/srv/backup", str(smb.state_dir): "/var/lib/nasfs/smb",
             str(mnt): "/srv/nas", **{str(m): f"/srv/disk{i + 1}" for i, m in enumerate(members)}}
    with preserved_extrausers():
        answers = _record_live(env, base, members, mnt, smb)
    recording = {"_about": ABOUT, **{k: normalize(v, paths) for k, v in sorted(answers.items())}}
    recording["backup.disks"], recording["backup.remotes"] = FIXED_DISKS, FIXED_REMOTES
    if args.only:
        kept = json.loads(args.out.read_text())
        recording = {k: v for k, v in sorted({**kept, **{
            k: v for k, v in recording.items() if k.startswith(tuple(args.only))}}.items())}
    args.out.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {args.out}")
    return 0


def _record_live(env: dict[str, str], base: Path, members: list[Path], mnt: Path,
                 smb: SmbPlace) -> dict[str, Any]:
    try:
        _nasfs(env, "mount", mnt, "--array", *members)
        with Client.connect(mnt, run_dir=base / "run") as client:
            def call(method: str, params: dict[str, Any]) -> Any:
                return client.call(method, params)

            try:
                set_up(call, mnt, smb)
                answers = record(call, client, smb)
            finally:
                stop_smb(call)
        _nasfs(env, "umount", mnt)
        # The second disk fails (disk 2 on the screen, member 1 on the wire), as the
        # pictures of the degraded array have always shown.
        shutil.rmtree(members[1])
        members[1].mkdir()
        _nasfs(env, "mount", mnt, "--array", *members, "--degraded")
        with Client.connect(mnt, run_dir=base / "run") as client:
            answers["degraded"] = client.call("status", {})
        _nasfs(env, "umount", mnt)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, check=False)
    return answers


if __name__ == "__main__":
    raise SystemExit(main())
