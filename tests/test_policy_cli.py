"""`nasfs user/group/share/auth/log/settings` as real subprocesses: through a real daemon
process (serving the control socket over the array, without a FUSE mount), and offline on
the disks when no daemon runs."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs import registry
from nasfs.store import Store
from tests.conftest import REPO  # the tree under test, not another checkout

NASFS = [sys.executable, "-m", "nasfs.cli.main"]
# A daemon without a mount: the same Daemon class `nasfs mount` runs, serving the socket.
DAEMON = """
import sys, trio
from pathlib import Path
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
config = Config(members=tuple(Path(p) for p in sys.argv[2:]), run_dir=Path(sys.argv[1]))
daemon = Daemon(DaemonOptions(config, mountpoint=None))
trio.run(lambda: daemon.run(on_ready=lambda: print("ready", flush=True)))
"""


class Env:
    def __init__(self, base: Path, run_dir: Path) -> None:
        self.members = [base / f"disk{i}" for i in range(3)]
        for d in self.members:
            d.mkdir()
        Store.create(self.members, 1, segment_bytes=1 << 20, max_shard_bytes=64 << 10)
        self.run_dir = run_dir
        self.environ = dict(os.environ, NASFS_RUN_DIR=str(run_dir))
        self.environ.pop("NASFS_SOCKET", None)
        self.daemon: subprocess.Popen[str] | None = None

    def start_daemon(self) -> None:
        self.daemon = subprocess.Popen(
            [sys.executable, "-c", DAEMON, str(self.run_dir), *map(str, self.members)],
            env=self.environ, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.daemon.stdout is not None
        assert self.daemon.stdout.readline().strip() == "ready"

    def stop_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.send_signal(signal.SIGTERM)
            assert self.daemon.wait(timeout=60) == 0
            self.daemon = None

    def run(self, *args: str | Path, stdin: str | None = None,
            code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*NASFS, *map(str, args), "--array", *map(str, self.members)],
                              env=self.environ, input=stdin, capture_output=True, text=True,
                              timeout=120, check=False, cwd=REPO)
        assert done.returncode == code, (args, done.returncode, done.stderr)
        return done

    def json(self, *args: str | Path, stdin: str | None = None) -> object:
        return json.loads(self.run(*args, "--json", stdin=stdin).stdout)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    run_dir = Path(tempfile.mkdtemp(prefix="nasfs-run-"))  # short: socket path limit
    environment = Env(tmp_path, run_dir)
    yield environment
    if environment.daemon is not None:
        environment.daemon.kill()
        environment.daemon.wait()
    shutil.rmtree(run_dir, ignore_errors=True)


def test_round_trip_through_a_daemon(env: Env, tmp_path: Path) -> None:
    env.start_daemon()
    record = registry.live_records(env.run_dir)
    assert len(record) == 1 and env.daemon is not None and record[0].pid == env.daemon.pid

    added = env.json("user", "add", "tanaka", "--uid", "1001", "--password-stdin",
                     stdin="パスワード\n")
    assert added == {"name": "tanaka", "uid": 1001, "has_password": True, "is_admin": False,
                     "locked": False, "groups": []}
    env.run("user", "add", "guestish", "--uid", "1002")
    env.run("group", "add", "sales", "--gid", "2000")
    env.run("group", "adduser", "sales", "tanaka")
    env.run("share", "create", "営業資料", "--trash-days", "7", "--force-group", "sales",
            "--create-mode", "0664", "--dir-mode", "2775")
    env.run("share", "acl", "営業資料", "--group", "sales", "--access", "rw")
    env.run("share", "acl", "営業資料", "--everyone", "--access", "ro")
    shown = env.json("share", "show", "営業資料")
    assert shown["force_group"] == "sales" and shown["dir_mode"] == "2775"  # type: ignore[index]
    access = env.json("share", "access", "営業資料", "--user", "tanaka")
    assert access == {"share": "営業資料", "user": "tanaka", "access": "rw",
                      "admin_access": False,
                      "why": "rw through group sales; everyone says ro; the highest grant wins"}
    assert env.run("share", "access", "営業資料", "--user", "guestish").stdout.strip() == (
        "guestish on 営業資料: ro through everyone")
    env.run("share", "acl", "営業資料", "--user", "guestish", "--access", "none")
    assert env.json("share", "access", "営業資料", "--user",
                    "guestish")["access"] == "none"  # type: ignore[index]

    ok = env.run("auth", "check", "tanaka", "--source", "tty1", stdin="パスワード\n")
    assert ok.stdout.strip() == "ok"
    wrong = env.run("auth", "check", "tanaka", "--source", "tty1", stdin="nope\n", code=1)
    nobody = env.run("auth", "check", "nobody", "--source", "tty2", stdin="nope\n", code=1)
    assert wrong.stdout == nobody.stdout

    out = tmp_path / "exports" / "system.csv"
    result = env.json("log", "export", "--system", "--encoding", "utf-8-sig", "-o", out)
    assert result["path"] == str(out) and result["rows"] >= 10  # type: ignore[index]
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    text = data.decode("utf-8-sig")
    assert "share.create" in text and "営業資料" in text and "auth.login" in text
    # Exported to stdout (paged through log.query) in cp932: Japanese survives.
    piped = subprocess.run([*NASFS, "log", "export", "--system", "--encoding", "cp932",
                            "--op", "share.acl", "--array", *map(str, env.members)],
                           env=env.environ, capture_output=True, timeout=60, check=True,
                           cwd=REPO)
    lines = piped.stdout.decode("cp932").splitlines()
    assert lines[0].startswith("id,time_utc,user") and len(lines) == 4
    assert all("営業資料" in line for line in lines[1:])
    verified = env.json("log", "verify", "--system")
    assert verified["ok"] is True  # type: ignore[index]

    # The administrative rows name who did it: root, the CLI's peer uid.
    rows = env.json("log", "show", "--system", "--op", "user.add")["rows"]  # type: ignore[index]
    assert [(r["user"], r["uid"], r["path"]) for r in rows] == [  # type: ignore[attr-defined]
        ("root", 0, "tanaka"), ("root", 0, "guestish")]

    # Everything survives the daemon stopping and is readable offline afterwards.
    env.stop_daemon()
    assert [u["name"] for u in env.json("user", "list")] == [  # type: ignore[attr-defined]
        "tanaka", "guestish"]
    assert env.json("log", "verify", "--system")["ok"] is True  # type: ignore[index]


def test_offline_errors_and_lockout(env: Env) -> None:
    env.run("user", "add", "alice", "--uid", "1001", "--password-stdin", stdin="pw\n")
    bad = env.run("user", "add", "bad name", "--uid", "7", code=2)
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("nasfs: user name ")
    dup = env.run("user", "add", "alice2", "--uid", "1001", code=1)
    assert dup.stderr == "nasfs: uid 1001 belongs to user 'alice' already\n"
    env.run("share", "acl", "nosuch", "--everyone", "--access", "rw", code=1)
    env.run("share", "acl", "x", "--access", "rw", code=2)  # no --user/--group/--everyone
    env.run("settings", "set", "auth.max_failures", "2")
    assert env.json("settings", "get", "auth.max_failures") == {"auth.max_failures": 2}
    for _ in range(2):
        env.run("auth", "check", "alice", "--source", "tty3", stdin="wrong\n", code=1)
    locked = env.run("auth", "check", "alice", "--source", "tty4", stdin="pw\n", code=4)
    assert "locked" in locked.stdout
    env.run("user", "unlock", "alice")
    env.run("auth", "check", "alice", "--source", "tty4", stdin="pw\n")
