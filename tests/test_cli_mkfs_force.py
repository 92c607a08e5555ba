"""`nasfs mkfs --force` never wipes a live array: refused (exit 5) for a member of a mounted
array, of an array whose lock is held, or of the configured array; allowed for stale and
foreign directories. Real member directories and mounts; the CLI runs as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import test_cli_mount
from test_cli_mount import REPO, Env, one_line_error

from nasfs import exitcodes
from nasfs.store.label import read_label

env = test_cli_mount.env


def fresh(env: Env, *names: str) -> list[Path]:
    dirs = [env.base / n for n in names]
    for d in dirs:
        d.mkdir()
    return dirs


def uuid_of(member: Path) -> str:
    label = read_label(member)
    assert label is not None
    return label.array_uuid


def test_mkfs_force_refuses_a_member_of_a_mounted_array(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    (mnt / "keep.txt").write_bytes(b"still here")
    before = uuid_of(members[0])
    done = env.run("mkfs", "--force", members[0], *fresh(env, "x1", "x2"), check=False)
    one_line_error(done, exitcodes.BUSY, f"{members[0]} is disk 1 of array {before}")
    assert f"pid {pid}" in done.stderr and "never overwrites" in done.stderr
    assert uuid_of(members[0]) == before and (members[0] / "nasfs" / "db" / "fs.db").exists()
    assert env.status(mnt)["state"] == "healthy"
    assert (mnt / "keep.txt").read_bytes() == b"still here"


HOLD_LOCK = """
import sys
from pathlib import Path
from nasfs.registry import ArrayLock
lock = ArrayLock.acquire(Path(sys.argv[1]), sys.argv[2], "nasfs scrub, offline")
print("held", flush=True)
sys.stdin.readline()
"""


def test_mkfs_force_refuses_a_member_whose_lock_is_held(env: Env) -> None:
    members = env.members()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(env.run_dir),
                               uuid_of(members[0])], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = env.run("mkfs", "--force", *members, check=False)
        one_line_error(done, exitcodes.BUSY, f"in use by pid {holder.pid} (nasfs scrub")
    finally:
        holder.kill()
        holder.wait()
    # Once nothing holds it, an unconfigured, unmounted array may be made over on purpose.
    old = uuid_of(members[0])
    env.run("mkfs", "--force", *members)
    assert uuid_of(members[0]) != old


def test_mkfs_force_refuses_a_member_of_the_configured_array(env: Env) -> None:
    members = env.members()
    config = env.base / "nasfs.toml"
    config.write_text(f"[array]\nmembers = {json.dumps([str(m) for m in members])}\n")
    before = uuid_of(members[1])
    done = env.run("mkfs", "--force", "--config", config, members[1],
                   *fresh(env, "y1", "y2"), check=False)
    one_line_error(done, exitcodes.BUSY, f"is this box's array in {config}")
    assert uuid_of(members[1]) == before


def test_mkfs_force_may_overwrite_stale_and_foreign_directories(env: Env) -> None:
    members = env.members()
    config = env.base / "nasfs.toml"
    config.write_text(f"[array]\nmembers = {json.dumps([str(m) for m in members])}\n")
    # disk 3 goes away, the array goes on without it (generation bump), it comes back stale.
    away = env.base / "away"
    os.rename(members[2], away)
    mnt = env.mountpoint()
    env.mount(mnt, members, "--degraded")
    env.run("umount", mnt)
    os.rename(away, members[2])
    foreign = env.members("other")[0]  # a disk of some other box's array
    done = env.run("mkfs", "--force", "--config", config, members[2], foreign,
                   *fresh(env, "z1"))
    assert "created array" in done.stdout
    assert uuid_of(members[2]) == uuid_of(foreign) != uuid_of(members[0])
