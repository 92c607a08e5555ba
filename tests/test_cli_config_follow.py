"""The member list follows the array: after a rebuild onto a new directory the config file
(and the demo's) names the new disk, so the next mount is whole; and `status` keeps finding
the daemon while a stale disk is listed. Real member directories, real mounts, the CLI as a
subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import test_cli_mount
from test_cli_mount import Env

from nasfs import exitcodes
from nasfs.store.label import read_label

env = test_cli_mount.env

COMMENT = "# the office array: one directory per disk\n"


def config_for(env: Env, members: list[Path], mnt: Path) -> Path:
    path = env.base / "nasfs.toml"
    path.write_text(f"{COMMENT}[array]\nmembers = {json.dumps([str(m) for m in members])}\n"
                    f"[mount]\nmountpoint = '{mnt}'\n")
    return path


def listed(config: Path) -> list[str]:
    members: list[str] = tomllib.loads(config.read_text())["array"]["members"]
    return members


def test_status_finds_the_daemon_while_a_stale_disk_is_listed(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    config = config_for(env, members, mnt)
    away = env.base / "away"
    os.rename(members[1], away)
    env.run("mount", "--config", config, "--degraded")
    os.rename(away, members[1])  # back, but stale: the array went on without it
    done = env.run("status", "--json", "--config", config, check=False)
    assert done.returncode == exitcodes.DEGRADED, done.stderr
    status = json.loads(done.stdout)
    assert status["source"] == "daemon" and status["missing"] == [1]


def test_rebuild_through_the_daemon_updates_the_config_file(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    config = config_for(env, members, mnt)
    shutil.rmtree(members[2])
    env.run("mount", "--config", config, "--degraded")
    (mnt / "file.txt").write_bytes(b"kept across the rebuild")
    new = env.base / "new-disk"
    new.mkdir()
    done = env.run("rebuild", "--config", config, "--disk", "3", "--onto", new)
    assert str(new) in done.stdout
    assert listed(config) == [str(members[0]), str(members[1]), str(new)]
    assert config.read_text().startswith(COMMENT)  # the administrator's file, edited
    assert env.status("--config", config)["state"] == "healthy"
    env.run("umount", "--config", config)
    # The next mount is whole: no --degraded needed.
    env.run("mount", "--config", config)
    assert env.status("--config", config)["state"] == "healthy"
    assert (mnt / "file.txt").read_bytes() == b"kept across the rebuild"


def test_offline_rebuild_replaces_the_stale_disk_in_the_config_file(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    config = config_for(env, members, mnt)
    away = env.base / "away"
    os.rename(members[0], away)
    env.run("mount", "--config", config, "--degraded")
    env.run("umount", "--config", config)
    os.rename(away, members[0])  # the old disk 1, stale
    new = env.base / "new-disk"
    new.mkdir()
    # The stale disk is left out of --array (assembly refuses it); the file still lists it.
    done = env.run("rebuild", "--config", config, "--array", members[1], members[2],
                   "--disk", "1", "--onto", new)
    assert f"updated {config}: disk 1 is now {new} (was {members[0]})" in done.stdout
    assert listed(config) == [str(new), str(members[1]), str(members[2])]
    env.run("mount", "--config", config)
    assert env.status("--config", config)["state"] == "healthy"


def test_demo_after_a_rebuild_mounts_the_new_disk(env: Env) -> None:
    data = env.base / "data"
    env.run("demo", "--data", data)
    mnt = data / "mnt"
    env.run("umount", mnt)
    disk2 = data / "members" / "disk2"
    shutil.rmtree(disk2)  # the disk fails
    degraded = env.run("demo", "--data", data)
    assert "mounting degraded: disk 2" in degraded.stdout + degraded.stderr
    new = data / "members" / "disk5"
    new.mkdir()
    env.run("rebuild", "--config", data / "nasfs.toml", "--disk", "2", "--onto", new)
    env.run("umount", mnt)
    again = env.run("demo", "--data", data)
    assert "HEALTHY" in again.stdout and "degraded" not in again.stdout + again.stderr
    label = read_label(new)
    assert label is not None and label.index == 1
