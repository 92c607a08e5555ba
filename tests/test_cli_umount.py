"""`nasfs umount` tells the truth: it refuses while files are open (exit 5, naming the
processes) unless `--force`, and it says when the daemon failed or crashed while stopping
(a member full, a member lost, a kill -9). Real mounts, real member directories, a real
tmpfs that fills up, real signals; the CLI runs as a subprocess.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_cli_mount
from test_cli_mount import NASFS, REPO, Env, one_line_error, wait_gone

from nasfs import exitcodes, registry
from nasfs.daemon.mountpoint import is_mounted

env = test_cli_mount.env

# Holds a file open for writing under the mount until its stdin closes, then closes it.
WRITER = """
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"first half ")
    f.flush()
    print("open", flush=True)
    sys.stdin.readline()
    f.write(b"second half")
print("closed", flush=True)
"""


class Holder:
    """A real process using the mount: a writer with an open file, or a shell's cwd."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=cwd)

    @classmethod
    def writer(cls, path: Path) -> Holder:
        holder = cls(sys.executable, "-c", WRITER, str(path))
        assert holder.proc.stdout is not None
        assert holder.proc.stdout.readline().strip() == "open"
        return holder

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.kill()


def test_umount_refuses_while_files_are_open(env: Env, holders: list[Holder]) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    (mnt / "work").mkdir()
    writer = Holder.writer(mnt / "report.txt")
    holders.append(writer)
    shell = Holder("sleep", "600", cwd=mnt / "work")
    holders.append(shell)

    done = env.run("umount", mnt, check=False)
    one_line_error(done, exitcodes.BUSY, f"{mnt} is busy, not unmounted")
    assert f"pid {writer.proc.pid} (python" in done.stderr
    assert f"open file {mnt / 'report.txt'}" in done.stderr
    assert f"pid {shell.proc.pid} (sleep): working directory {mnt / 'work'}" in done.stderr
    assert "--force" in done.stderr
    # Nothing was stopped: the writer finishes its file normally.
    assert is_mounted(mnt)
    writer.release()
    assert writer.proc.returncode == 0
    shell.kill()
    assert env.run("umount", mnt).stdout.strip() == f"unmounted {mnt}"
    env.mount(mnt, members)
    assert (mnt / "report.txt").read_bytes() == b"first half second half"


def test_umount_force_unmounts_anyway(env: Env, holders: list[Holder]) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    holders.append(Holder.writer(mnt / "open.txt"))
    done = env.run("umount", "--force", mnt)
    assert done.stdout.strip() == f"unmounted {mnt}"
    assert not is_mounted(mnt)
    assert registry.live_records(env.run_dir) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (tmpfs) to be one member: it fills up for real."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill_up(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def daemon_log(env: Env) -> str:
    return (env.base / "log" / "nasfs.log").read_text(errors="replace")


def test_umount_reports_a_member_that_filled_up(env: Env, small_disk: Path) -> None:
    from nasfs.store import Store

    members = [env.base / "big0", small_disk, env.base / "big2"]
    for m in members[::2]:
        m.mkdir()
    Store.create(members, 1, segment_bytes=1 << 20, max_shard_bytes=64 << 10)
    mnt = env.mountpoint()
    env.mount(mnt, members)
    (mnt / "kept.txt").write_bytes(b"saved before the disk filled")
    env.run("umount", mnt)
    env.mount(mnt, members)
    # Accepted while it fits, buffered (not fsynced); then something else fills the disk
    # under the array, so the data no longer fits when the unmount stores it.
    with open(mnt / "late.bin", "wb") as f:
        f.write(os.urandom(1 << 20))
    fill_up(small_disk / "someone-elses-file")
    done = env.run("umount", mnt, check=False)
    one_line_error(done, exitcodes.FAILED, f"unmounted {mnt}, but not cleanly")
    assert "is full" in done.stderr
    assert not is_mounted(mnt)
    log = daemon_log(env)
    assert "Traceback" not in log and "stopped with problems" in log
    # What was saved before is there after the next mount; the array mounts again.
    (small_disk / "someone-elses-file").unlink()
    env.mount(mnt, members)
    assert (mnt / "kept.txt").read_bytes() == b"saved before the disk filled"


def test_umount_after_losing_the_first_member(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    (mnt / "before.bin").write_bytes(os.urandom(300_000))
    shutil.rmtree(members[0])  # the disk holding the databases' primary copies
    (mnt / "after.bin").write_bytes(b"written with disk 1 gone")
    (mnt / "folder").mkdir()
    done = env.run("umount", mnt, check=False)
    # Survivable (parity covers one disk): a clean unmount, and no traceback behind it.
    assert done.returncode == exitcodes.OK, done.stderr
    assert "Traceback" not in daemon_log(env)
    env.mount(mnt, members, "--degraded")
    assert (mnt / "after.bin").read_bytes() == b"written with disk 1 gone"
    assert (mnt / "folder").is_dir()


def _waiting_for_an_answer(pid: int) -> bool:
    """True once process `pid` sits in a socket wait (poll/recvfrom, x86-64 and arm64)."""
    try:
        number = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return False
    return number in {"7", "45", "271", "232", "281", "73", "207"}


def test_umount_reports_a_daemon_that_crashed_while_stopping(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    # Freeze the daemon so that the unmount request is sent but not answered, then kill it.
    os.kill(pid, signal.SIGSTOP)
    try:
        umount = subprocess.Popen([*NASFS, "umount", str(mnt)], env=env.environ, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not _waiting_for_an_answer(umount.pid):
            assert umount.poll() is None, umount.communicate()
            os.sched_yield()
    finally:
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    out, err = umount.communicate(timeout=120)
    assert umount.returncode == exitcodes.FAILED, (out, err)
    assert f"the nasfs daemon (pid {pid}) crashed before it answered the unmount" in err
    assert "unmounted" not in out
