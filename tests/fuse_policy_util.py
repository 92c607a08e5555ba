"""Shared set-up for the policy-through-FUSE tests: a real daemon process mounting a real
array (the same `Daemon` class `nasfs mount` runs), a control client for the administrator,
and `as_user`, which runs a function in a forked child that has dropped to another uid."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.store import Store

DAEMON = """
import logging, sys, trio
from pathlib import Path
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
logging.basicConfig(level=logging.WARNING)
run_dir, mnt, sock, *members = sys.argv[1:]
config = Config(members=tuple(Path(p) for p in members), run_dir=Path(run_dir),
                socket=Path(sock))
daemon = Daemon(DaemonOptions(config, mountpoint=Path(mnt)))
trio.run(lambda: daemon.run(on_ready=lambda: print("ready", flush=True)))
"""


class PolicyMount:
    """An array mounted by a daemon process, administered through its control socket."""

    def __init__(self, base: Path, members: list[Path] | None = None) -> None:
        """`members`: empty directories to make the array on (default: three in `base`)."""
        if members is None:
            members = [base / f"disk{i}" for i in range(3)]
            for d in members:
                d.mkdir()
        self.members = members
        Store.create(self.members, 1)
        # Other uids must reach the mount point: not below pytest's private tmp dir.
        self.outer = Path(tempfile.mkdtemp(prefix="nasfs-mnt-"))
        os.chmod(self.outer, 0o755)
        self.mnt = self.outer / "mnt"
        self.mnt.mkdir()
        self.run_dir = self.outer / "run"
        self.run_dir.mkdir()
        self.socket = self.run_dir / "s.sock"
        self.log_path = base / "daemon.log"
        self.proc: subprocess.Popen[str] | None = None
        self.client: Client | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DAEMON, str(self.run_dir), str(self.mnt), str(self.socket),
             *map(str, self.members)], stdout=subprocess.PIPE, stderr=log, text=True,
            cwd=Path(__file__).resolve().parent.parent)
        log.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == "ready", self.log_path.read_text()
        self.client = Client.connect(self.socket)

    @property
    def admin(self) -> PolicyClient:
        assert self.client is not None
        return PolicyClient(self.client)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        assert self.client is not None
        return self.client.call(method, params or {})

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            self.proc = None
            assert rc == 0, self.log_path.read_text()

    def cleanup(self) -> None:
        if self.client is not None:
            self.client.close()
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False,
                       stderr=subprocess.DEVNULL)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.outer, ignore_errors=True)

    def access_rows(self, *, after_id: int = 0, expect: int = 0) -> list[dict[str, Any]]:
        """Access-log rows after `after_id`, waiting (bounded) until at least `expect`."""
        deadline = time.monotonic() + 30
        while True:
            got = self.admin.log_query("access", after_id=after_id, limit=1000).rows
            if len(got) >= expect or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def last_access_id(self) -> int:
        rows = self.access_rows()
        return max((int(r["id"]) for r in rows), default=0)


# One ACL entry of a share, as share_acl takes it: (kind, principal, access).
Acl = tuple[str, str | None, str]
EVERYONE_RW: Acl = ("everyone", None, "rw")


@contextlib.contextmanager
def started(base: Path, *, users: Mapping[str, int] | None = None,
            shares: Mapping[str, Sequence[Acl]] | None = None,
            homes: Sequence[str] = ()) -> Iterator[PolicyMount]:
    """A PolicyMount in `base`, started, with `users` (name -> uid) and `shares` (name ->
    its ACL entries; the names in `homes` made as homes shares); stopped at the end (the
    daemon must exit cleanly) and cleaned up also when anything before failed."""
    m = PolicyMount(base)
    try:
        m.start()
        for name, uid in (users or {}).items():
            m.admin.user_add(name, uid)
        for name, acl in (shares or {}).items():
            m.admin.share_create(name, **({"homes": True} if name in homes else {}))
            for kind, principal, access in acl:
                m.admin.share_acl(name, kind, principal, access)
        yield m
        m.stop()
    finally:
        m.cleanup()


def as_user(uid: int, fn: Callable[..., Any], *args: Any, gid: int | None = None,
            groups: list[int] | None = None) -> Any:
    """Run `fn(*args)` as `uid` in a forked child; return its value, or the errno of the
    OSError it raised (as an `Errno`)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(r)
            os.setgroups(groups or [])
            os.setgid(uid if gid is None else gid)
            os.setuid(uid)
            try:
                result: Any = fn(*args)
            except OSError as exc:
                result = Errno(exc.errno or 0)
            with os.fdopen(w, "wb") as out:
                pickle.dump(result, out)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "the child failed"
    return pickle.loads(data)


class Errno(int):
    """An errno returned from a child (compares equal to the errno constant)."""

    def __repr__(self) -> str:
        return f"Errno({errno.errorcode.get(int(self), int(self))})"


def serve_nas(base: Path, share: str, users: dict[str, int]) -> Iterator[PolicyMount]:
    """A mounted array with `users` and one share everyone may read and write (for a fixture:
    `yield from serve_nas(...)`); stopped and cleaned up afterwards."""
    m = PolicyMount(base)
    try:
        m.start()
        for name, uid in users.items():
            m.admin.user_add(name, uid)
        m.admin.share_create(share)
        m.admin.share_acl(share, "everyone", None, "rw")
        yield m
        m.stop()
    finally:
        m.cleanup()
