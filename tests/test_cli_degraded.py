"""`nasfs mount` with a member missing: refused without `--degraded`; with it, loud about
which disk it goes on without and what the generation bump does to that disk. Real member
directories, the CLI as a subprocess, real FUSE mounts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import test_cli_mount
from test_cli_mount import NASFS, Env, one_line_error

from nasfs import exitcodes, registry
from nasfs.daemon.mountpoint import is_mounted
from nasfs.store.label import read_label

env = test_cli_mount.env


def generations(members: list[Path]) -> list[int]:
    labels = [read_label(m) for m in members if m.exists()]
    return [label.generation for label in labels if label is not None]


def test_missing_member_is_refused_without_degraded(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    shutil.rmtree(members[1])
    done = env.run("mount", mnt, "--array", *members, check=False)
    one_line_error(done, exitcodes.DEGRADED, "disk 2 of array")
    assert "--degraded" in done.stderr and f"{members[1]} does not exist" in done.stderr
    assert not is_mounted(mnt)
    assert registry.live_records(env.run_dir) == []
    # Nothing was written: the absent disk is not made stale by a refused mount.
    assert generations(members) == [1, 1]
    foreground = env.run("mount", "--foreground", mnt, "--array", *members, check=False)
    assert foreground.returncode == exitcodes.DEGRADED, foreground.stderr
    assert generations(members) == [1, 1]


def test_degraded_mount_names_the_disk_and_what_happens_to_it(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    shutil.rmtree(members[2])
    done = env.run("mount", mnt, "--array", *members, "--degraded")
    assert "warning: mounting degraded: disk 3 of array" in done.stderr
    assert "generation 2" in done.stderr and "stale" in done.stderr
    assert is_mounted(mnt)
    assert generations(members) == [2, 2]
    status = env.run("status", mnt, check=False)
    assert status.returncode == exitcodes.DEGRADED and "DEGRADED" in status.stdout
    env.run("umount", mnt)
    # Mounted degraded before: no new generation, and the message says the disk is behind.
    again = env.run("mount", mnt, "--array", *members, "--degraded")
    assert "disk 3 is already out of date (generation 2)" in again.stderr
    assert generations(members) == [2, 2]


def test_mount_help_offers_degraded() -> None:
    # The flag is part of the documented interface of `nasfs mount`.
    import subprocess

    done = subprocess.run([*NASFS, "mount", "--help"], capture_output=True, text=True,
                          check=True, cwd=test_cli_mount.REPO)
    assert "--degraded" in done.stdout
