"""`nasfs recovery` as a real command: refusal while a daemon serves the array (a real
mount), one-shot exit codes, one-line errors, and the interactive shell on a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasfs import registry
from tests.recovery_util import new_members, populate

NASFS = [sys.executable, "-m", "nasfs.cli.main"]


def nasfs(tmp_path: Path, *args: str | Path, stdin: str | None = None
          ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NASFS_RUN_DIR=str(tmp_path / "run"),
               NASFS_LOG_DIR=str(tmp_path / "log"))
    return subprocess.run([*NASFS, *map(str, args)], env=env, capture_output=True, text=True,
                          input=stdin, timeout=120, check=False, cwd=Path(__file__).parent.parent)


def one_line(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasfs: ") and text in lines[0], lines


async def test_exit_codes(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    await populate(members, small_files=2)
    done = nasfs(tmp_path, "recovery", "--array", *members, "--run", "status", "--run", "check")
    assert done.returncode == 0, done.stderr
    assert "check: clean" in done.stdout
    one_line(nasfs(tmp_path, "recovery", "--array", *members, "--run", "frobnicate"), 2,
             "unknown command 'frobnicate'")
    one_line(nasfs(tmp_path, "recovery", "--array", *members, "--run", "check --bogus"), 2,
             "check: unrecognized arguments: --bogus")
    one_line(nasfs(tmp_path, "recovery", "--array", *members, "--run", "rebuild --disk 2"),
             2, "the following arguments are required: --onto")
    one_line(nasfs(tmp_path, "recovery", "--run", "status"), 2, "no array given")
    # A usage error stops the run: the check after it does not run.
    done = nasfs(tmp_path, "recovery", "--array", *members, "--run", "salvage", "--run", "check")
    assert done.returncode == 2 and "check:" not in done.stdout
    (members[3] / "nasfs" / "label.json").unlink()
    for entry in (members[3] / "nasfs").iterdir():
        entry.rename(tmp_path / entry.name)  # the disk came back empty
    done = nasfs(tmp_path, "recovery", "--array", *members, "--run", "check")
    assert done.returncode == 1
    assert "FOUND members: disk 4 is missing" in done.stdout
    done = nasfs(tmp_path, "recovery", "--array", *members,
                 "--run", f"rebuild --disk 4 --onto {members[3]}", "--run", "check --full")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rebuild: 100.0%" in done.stdout and "check: clean" in done.stdout


async def test_interactive_shell_on_a_pipe(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    done = nasfs(tmp_path, "recovery", "--array", *members,
                 stdin="help\nhelp salvage\n\nnonsense\nstatus\nquit\n")
    assert done.returncode == 0, done.stderr
    assert "recovery shell" in done.stdout
    for command in ("check", "fsck", "metadata", "rebuild", "repair", "salvage", "scrub",
                    "status", "unlock"):
        assert command in done.stdout
    assert "salvage DEST [PATH]" in done.stdout
    assert "healthy" in done.stdout
    assert done.stderr == "nasfs: unknown command 'nonsense' (type 'help' for the list)\n"


@pytest.mark.timeout(180)
async def test_refuses_while_a_daemon_serves_the_array(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    started = nasfs(tmp_path, "mount", mnt, "--array", *members)
    assert started.returncode == 0, started.stderr
    try:
        record = registry.find_by_mountpoint(tmp_path / "run", mnt)
        assert record is not None
        done = nasfs(tmp_path, "recovery", "--array", *members, "--run", "status")
        one_line(done, 1, f"pid {record.pid}")
        assert str(mnt) in done.stderr and "nasfs umount" in done.stderr
    finally:
        stopped = nasfs(tmp_path, "umount", mnt)
    assert stopped.returncode == 0, stopped.stderr
    done = nasfs(tmp_path, "recovery", "--array", *members, "--run", "status")
    assert done.returncode == 0, done.stderr


def test_help_fits_80_columns_and_hides_eof(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    from nasfs.recovery.shell import RecoveryShell

    topics = [name[3:] for name in dir(RecoveryShell) if name.startswith("do_")]
    runs = [arg for topic in ["", *topics] for arg in ("--run", f"help {topic}".strip())]
    done = nasfs(tmp_path, "recovery", "--array", *members, *runs, stdin="help\n")
    assert done.returncode == 0, done.stderr
    assert "EOF" not in done.stdout
    too_wide = [line for line in done.stdout.splitlines() if len(line) >= 80]
    assert too_wide == []
    # Ctrl-D (end of input) still leaves the interactive shell.
    assert nasfs(tmp_path, "recovery", "--array", *members, stdin="").returncode == 0
