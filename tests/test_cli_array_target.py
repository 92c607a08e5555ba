"""Commands that find their array: every command that acts on an array accepts a mount point
(--mountpoint), its members (--array) or a config file (--config); with nothing named, the
one array mounted on this box is used, and with two mounted the error lists them.

Real daemons and real mounts, run as `nasfs` subprocesses from this tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs import registry
from tests.test_cli_mount import NASFS, Env, mounts_under, one_line_error, wait_gone

REPO = Path(__file__).parent.parent


class HereEnv(Env):
    """Env whose commands run this tree's code (not whatever another checkout holds)."""

    def run(self, *args: str | Path, check: bool | None = True
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*NASFS, *map(str, args)], env=self.environ, cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"nasfs {' '.join(map(str, args))} failed "
                                 f"({done.returncode}): {done.stderr}")
        return done


@pytest.fixture
def env(tmp_path: Path) -> Iterator[HereEnv]:
    run_dir = Path(tempfile.mkdtemp(prefix="nasfs-run-"))
    environment = HereEnv(tmp_path, run_dir)
    yield environment
    for record in registry.live_records(run_dir):
        os.kill(record.pid, signal.SIGKILL)
        wait_gone(record.pid)
    for path in mounts_under(tmp_path):
        subprocess.run(["fusermount3", "-u", "-z", path], check=False)
    shutil.rmtree(run_dir, ignore_errors=True)


# Commands that act on an array, each with what it needs besides the array.
COMMANDS = [("log", "show"), ("log", "verify"), ("share", "list"), ("user", "list"),
            ("settings", "get"), ("trash", "list"), ("snapshot", "list"), ("scrub",)]


def test_nothing_mounted_nothing_named(env: HereEnv) -> None:
    for command in COMMANDS:
        one_line_error(env.run(*command, check=False), 2,
                       "no array is mounted on this box and none was named")


def test_the_one_mounted_array_is_used_then_two_must_be_named(env: HereEnv) -> None:
    first, first_mnt = env.members("a"), env.mountpoint("a-mnt")
    env.mount(first_mnt, first)
    for command in COMMANDS:
        env.run(*command)  # no --array, no --config, no mount point: the only one
    env.run("share", "create", "docs")
    assert "docs" in env.run("share", "list", "--mountpoint", first_mnt).stdout
    # The access log's operation names: the everyday word finds the row's own name.
    (first_mnt / "docs" / "old.txt").write_text("old")
    (first_mnt / "docs" / "old.txt").unlink()
    env.run("log", "show")  # (the log writer batches; a show after the delete sees it)
    rows = env.run("log", "show", "--op", "unlink").stdout.splitlines()
    assert rows and all(" delete " in row for row in rows), rows
    assert any("docs/old.txt" in row for row in rows), rows
    one_line_error(env.run("log", "show", "--op", "frobnicate", check=False), 2,
                   "the access log has no operation 'frobnicate'; it records: create, mkdir")
    assert "docs" in env.run("share", "list", "--array", *first).stdout

    second, second_mnt = env.members("b"), env.mountpoint("b-mnt")
    env.mount(second_mnt, second)
    done = env.run("share", "list", check=False)
    one_line_error(done, 2, "2 arrays are mounted on this box")
    assert str(first_mnt) in done.stderr and str(second_mnt) in done.stderr
    assert "docs" not in env.run("share", "list", "--mountpoint", second_mnt).stdout
    assert "docs" in env.run("share", "list", "--mountpoint", first_mnt).stdout
    env.run("scrub", "--mountpoint", second_mnt)
    config = env.base / "second.toml"
    config.write_text(f'[mount]\nmountpoint = "{second_mnt}"\n'
                      f'[daemon]\nrun_dir = "{env.run_dir}"\n')
    env.run("trash", "list", "--config", config)
