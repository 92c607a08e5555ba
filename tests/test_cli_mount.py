"""`nasfs mount/umount/status/demo` as real subprocesses, with real FUSE mounts.

Every test that mounts is torn down by the `cleanup` fixture: whatever is still mounted in
the test's directory is unmounted and any daemon it started is killed, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nasfs import registry
from nasfs.daemon.mountpoint import is_mounted
from nasfs.store import Store
from tests.fuse_policy_util import as_user

NASFS = [sys.executable, "-m", "nasfs.cli.main"]
REPO = Path(__file__).resolve().parent.parent


class Env:
    def __init__(self, base: Path, run_dir: Path) -> None:
        self.base = base
        self.run_dir = run_dir
        self.environ = dict(os.environ, NASFS_RUN_DIR=str(run_dir),
                            NASFS_LOG_DIR=str(base / "log"))
        self.environ.pop("NASFS_SOCKET", None)

    def members(self, name: str = "a", count: int = 3) -> list[Path]:
        dirs = [self.base / f"{name}-disk{i}" for i in range(count)]
        for d in dirs:
            d.mkdir()
        Store.create(dirs, 1, segment_bytes=1 << 20, max_shard_bytes=64 << 10)
        return dirs

    def mountpoint(self, name: str = "mnt") -> Path:
        path = self.base / name
        path.mkdir()
        return path

    def run(self, *args: str | Path, check: bool | None = True,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        # `python -m` imports from the working directory first: a `cwd` other than this
        # checkout gets it on PYTHONPATH so that this checkout's code runs.
        environ = self.environ if cwd is None else dict(self.environ, PYTHONPATH=str(REPO))
        done = subprocess.run([*NASFS, *map(str, args)], env=environ, cwd=cwd or REPO,
                              capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"nasfs {' '.join(map(str, args))} failed "
                                 f"({done.returncode}): {done.stderr}")
        return done

    def mount(self, mountpoint: Path, members: list[Path], *extra: str) -> int:
        self.run("mount", mountpoint, "--array", *members, *extra)
        record = registry.find_by_mountpoint(self.run_dir, mountpoint)
        assert record is not None
        return record.pid

    def status(self, *args: str | Path) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("status", "--json", *args).stdout)
        return result


def one_line_error(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("nasfs: "), lines[0]
    assert text in lines[0], lines[0]


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and not _is_zombie(pid):
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def mounts_under(base: Path) -> list[str]:
    prefix = str(base) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split(" ")[4] for line in f]
    return [p for p in points if p.startswith(prefix)]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path is too deep for them.
    run_dir = Path(tempfile.mkdtemp(prefix="nasfs-run-"))
    environment = Env(tmp_path, run_dir)
    yield environment
    for record in registry.live_records(run_dir):
        os.kill(record.pid, signal.SIGKILL)
        wait_gone(record.pid)
    for path in mounts_under(tmp_path):
        subprocess.run(["fusermount3", "-u", "-z", path], check=False)
    shutil.rmtree(run_dir, ignore_errors=True)


# -- arguments and config ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["mount", "--bogus"], "unrecognized arguments: --bogus"),
        (["mount", "/x", "--array"], "expected at least one argument"),
        (["status", "a", "b"], "unrecognized arguments: b"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["demo", "--data"], "expected one argument"),
    ],
)
def test_bad_arguments(env: Env, args: list[str], text: str) -> None:
    one_line_error(env.run(*args, check=False), 2, text)


def test_mount_without_array_or_mountpoint(env: Env) -> None:
    empty = env.base / "empty.toml"
    empty.write_text("")
    one_line_error(env.run("mount", env.base, "--config", empty, check=False), 2,
                   f"no array given: name its member directories with --array, or list them "
                   f"under [array] members in {empty}")
    one_line_error(env.run("mount", "--array", env.base, "--config", empty, check=False), 2,
                   "no mount point given")


def test_config_errors_reach_the_user(env: Env) -> None:
    bad = env.base / "bad.toml"
    bad.write_text("[mount]\nmountpont = '/x'\n")
    one_line_error(env.run("mount", "--config", bad, check=False), 2,
                   f"config file {bad}: unknown key 'mountpont' in [mount]")
    one_line_error(env.run("status", "--config", env.base / "absent.toml", check=False), 2,
                   "absent.toml does not exist")


def test_mount_from_config_file(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    config = env.base / "nasfs.toml"
    config.write_text(f"[array]\nmembers = {json.dumps([m.name for m in members])}\n"
                      f"[mount]\nmountpoint = 'mnt'\n"
                      f"[daemon]\nlog_file = 'daemon.log'\n")
    env.run("mount", "--config", config)
    assert is_mounted(mnt)
    assert (env.base / "daemon.log").exists()
    assert env.status("--config", config)["mounted"] is True
    env.run("umount", "--config", config)
    assert not is_mounted(mnt)


# -- refusals ---------------------------------------------------------------------------

def test_mount_refusals(env: Env) -> None:
    members = env.members()
    one_line_error(env.run("mount", env.base / "absent", "--array", *members, check=False), 1,
                   f"mount point {env.base / 'absent'} does not exist")
    a_file = env.base / "file"
    a_file.write_text("x")
    one_line_error(env.run("mount", a_file, "--array", *members, check=False), 1,
                   "is not a directory")
    full = env.mountpoint("full")
    (full / "keep.txt").write_text("mine")
    one_line_error(env.run("mount", full, "--array", *members, check=False), 1,
                   f"mount point {full} is not empty (mount with -o nonempty")
    assert registry.live_records(env.run_dir) == []


def test_incomplete_array_is_refused(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    one_line_error(env.run("mount", mnt, "--array", members[0], check=False), 1,
                   "too few members of array")
    assert not is_mounted(mnt)


def test_busy_mountpoint_and_owned_array(env: Env) -> None:
    first = env.members("a")
    second = env.members("b")
    mnt = env.mountpoint()
    other = env.mountpoint("other")
    pid = env.mount(mnt, first)
    one_line_error(env.run("mount", mnt, "--array", *second, check=False), 1,
                   f"mount point {mnt} is busy")
    done = env.run("mount", other, "--array", *first, check=False)
    one_line_error(done, 1, f"is in use by pid {pid} (nasfs daemon, mounted at {mnt})")
    assert not is_mounted(other)


def test_nonempty_option(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    (mnt / "hidden.txt").write_text("under the mount")
    env.mount(mnt, members, "-o", "nonempty")
    assert not (mnt / "hidden.txt").exists()
    env.run("umount", mnt)
    assert (mnt / "hidden.txt").read_text() == "under the mount"


# -- round trips ------------------------------------------------------------------------

def test_mount_status_umount_round_trip(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    assert is_mounted(mnt)
    (mnt / "hello.txt").write_bytes(b"hello, array\n")

    status = env.status(mnt)
    assert status["source"] == "daemon"
    assert status["mounted"] is True and status["mountpoint"] == str(mnt)
    assert status["daemon_pid"] == pid
    assert status["state"] == "healthy"
    assert [m["path"] for m in status["members"]] == [str(m) for m in members]
    # The same daemon answers when the array is named instead of the mount point.
    assert env.status("--array", *members)["daemon_pid"] == pid
    human = env.run("status", mnt).stdout
    assert f"mounted at {mnt}" in human and "HEALTHY" in human
    # No array named at all: every running daemon reports.
    empty = env.base / "empty.toml"
    empty.write_text("")
    assert env.status("--config", empty)["daemon_pid"] == pid

    assert env.run("umount", mnt).stdout.strip() == f"unmounted {mnt}"
    assert not is_mounted(mnt)
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    assert registry.live_records(env.run_dir) == []
    assert list(env.run_dir.glob("*.sock")) == []

    offline = env.status("--array", *members)
    assert offline["source"] == "offline" and offline["mounted"] is False
    assert offline["capacity"]["used_bytes"] > 0

    env.mount(mnt, members)
    assert (mnt / "hello.txt").read_bytes() == b"hello, array\n"


def test_sigterm_unmounts_cleanly(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    (mnt / "data.bin").write_bytes(b"x" * 300_000)  # not fsynced: the clean stop flushes it
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid)
    assert not is_mounted(mnt)
    log = (env.base / "log" / "nasfs.log").read_text()
    assert "received SIGTERM" in log and "stopped cleanly" in log
    env.mount(mnt, members)
    assert (mnt / "data.bin").read_bytes() == b"x" * 300_000
    assert "unclean shutdown" not in (env.base / "log" / "nasfs.log").read_text()


def test_foreground_mount_stops_on_ctrl_c(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    proc = subprocess.Popen([*NASFS, "mount", "--foreground", str(mnt), "--array",
                             *map(str, members)], env=env.environ, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while registry.find_by_mountpoint(env.run_dir, mnt) is None:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the foreground mount did not come up"
            time.sleep(0.05)
        (mnt / "f.txt").write_text("foreground")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "received SIGINT" in err and "stopped cleanly" in err
    assert not is_mounted(mnt)


def test_foreground_daemon_tells_systemd_when_ready_and_stopping(env: Env) -> None:
    # As under nasfs.service (Type=notify): READY=1 only once the array is mounted.
    members = env.members()
    mnt = env.mountpoint()
    address = env.run_dir / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        listener.settimeout(120)  # a bound on a hang, not a timed assertion
        proc = subprocess.Popen([*NASFS, "mount", "--foreground", str(mnt), "--array",
                                 *map(str, members)], env=dict(env.environ,
                                 NOTIFY_SOCKET=str(address)), stderr=subprocess.PIPE, text=True)
        try:
            first = listener.recv(4096).decode().splitlines()
            assert first[0] == "READY=1" and is_mounted(mnt)
            assert f"STATUS=serving at {mnt}" in first
            proc.send_signal(signal.SIGTERM)
            second = listener.recv(4096).decode().splitlines()
            assert second == ["STOPPING=1", "STATUS=stopping: received SIGTERM"]
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert not is_mounted(mnt)


def test_next_mount_after_kill_9(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    with open(mnt / "synced.txt", "wb") as f:
        f.write(b"survives kill -9\n")
        os.fsync(f.fileno())
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    assert is_mounted(mnt)  # the dead FUSE mount stays behind
    # Stale lock, record and socket are all still on disk; none of them may block.
    assert list(env.run_dir.glob("*.sock")) and list(env.run_dir.glob("*.json"))
    one_line_error(env.run("status", mnt, check=False), 3, "no nasfs daemon is running for")

    done = env.run("mount", mnt, "--array", *members)
    assert "removed the dead mount" in done.stderr
    # The fsynced file is there (byte-exact contents after kill -9 are the filesystem's
    # promise, tested by its own crash tests).
    assert (mnt / "synced.txt").exists()
    assert env.status(mnt)["state"] == "healthy"


def test_umount_falls_back_to_fusermount(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    done = env.run("umount", mnt)
    assert "warning: no nasfs daemon owns" in done.stderr
    assert not is_mounted(mnt)


def test_umount_of_nothing(env: Env) -> None:
    mnt = env.mountpoint()
    one_line_error(env.run("umount", mnt, check=False), 1, f"nothing is mounted at {mnt}")


def test_unmounted_from_outside(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    pid = env.mount(mnt, members)
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    wait_gone(pid)
    assert "was unmounted from outside" in (env.base / "log" / "nasfs.log").read_text()
    assert registry.live_records(env.run_dir) == []


# -- status without a daemon ------------------------------------------------------------

def test_status_without_daemon_or_array(env: Env) -> None:
    empty = env.base / "empty.toml"
    empty.write_text("")
    one_line_error(env.run("status", "--config", empty, check=False), 3,
                   "no nasfs daemon is running and no array was given")
    mnt = env.mountpoint()
    done = env.run("status", mnt, check=False)
    one_line_error(done, 3, f"start it with 'nasfs mount {mnt} --array MEMBER...'")


def test_offline_status_of_degraded_array(env: Env) -> None:
    members = env.members()
    shutil.rmtree(members[1])
    done = env.run("status", "--json", "--array", *members, check=False)
    assert done.returncode == 4  # degraded (nasfs.exitcodes)
    status = json.loads(done.stdout)
    assert status["state"] == "degraded" and status["missing"] == [1]
    assert status["members"][1]["state"] == "missing"


# -- demo -------------------------------------------------------------------------------

def test_demo_without_terminal(env: Env) -> None:
    data = env.base / "data"
    first = env.run("demo", "--data", data)
    out = first.stdout
    assert "created demo array" in out
    assert "parity self-test: passed" in out
    assert f"mounted at {data / 'mnt'}" in out
    assert "HEALTHY" in out
    assert f"nasfs umount {data / 'mnt'}" in out
    assert sorted(p.name for p in (data / "members").iterdir()) == [
        "disk1", "disk2", "disk3", "disk4"]
    assert (data / "mnt" / "public" / "README.txt").read_bytes().startswith(
        b"This is the nasfs demo")
    assert (data / "mnt" / "sales" / "numbers.csv").exists()
    assert "administrator login root" in out
    # The demo's shares and accounts are real: alice (uid 1001) cannot see the hidden share.
    # pytest's private tmp dirs are 0700: let alice walk through them (search only).
    for parent in data.parents:
        if parent == Path(tempfile.gettempdir()):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
    seen = as_user(1001, lambda: sorted(os.listdir(data / "mnt")))
    assert seen == ["public", "sales"]

    again = env.run("demo", "--data", data)
    assert "already mounted" in again.stdout and "created" not in again.stdout

    env.run("umount", data / "mnt")
    third = env.run("demo", "--data", data, "--json")
    status = json.loads(third.stdout)
    assert status["mounted"] is True and status["state"] == "healthy"
    assert "created demo array" not in third.stderr
    assert (data / "mnt" / "public" / "README.txt").exists()
