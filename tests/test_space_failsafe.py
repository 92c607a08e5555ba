"""No change is acknowledged that will not persist (docs/space.md, "When nothing can be saved").

The member disks are tiny real tmpfs filesystems that something other than nasfs fills to
the last byte (a filler file on each), so the metadata databases really cannot grow: the
commit fails however much of nasfs's own reserve is left. The fsync that needed the
commit says ENOSPC and the namespace goes back to what is on disk; after repeated failures
the volume turns read-only (EROFS for changes, reads go on); once the disks have room
again a remount is writable and holds exactly what was acknowledged.
"""

from __future__ import annotations

import errno
import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from nasfs.fs.failsafe import FAILSAFE_AFTER
from tests.fuse_policy_util import PolicyMount
from tests.mail_util import Inbox, free_port
from tests.space_util import MIB, check_files, fill_disk, tiny_array, tmpfs_members, write_file

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFS_RUN_DIR", str(tmp_path / "run"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _errno_of(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except OSError as exc:
        return exc.errno or 0
    return 0


# Only fsync commits: the test knows which commit each change is in.
NO_GROUP_COMMIT = ("--commit-interval", "3600")


def test_a_commit_that_fails_fails_fsync_undoes_and_then_turns_read_only(
        tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount(*NO_GROUP_COMMIT)
        acked: dict[str, bytes] = {}
        for i in range(6):
            data = os.urandom(200_000)
            assert write_file(mnt / f"kept{i}", data, fsync=True)
            acked[f"kept{i}"] = data
        (mnt / "folder").mkdir()
        _fsync_dir(mnt)
        # A fresh mount starts with an empty database log: its next commit must grow it.
        array.unmount()
        array.mount(*NO_GROUP_COMMIT)
        fillers = [fill_disk(m) for m in array.members]

        # 1. The commit fails: fsync says ENOSPC (not EIO), and the change is undone, as
        # programs see it too (the kernel's cached entries are forgotten).
        os.rename(mnt / "kept0", mnt / "moved0")
        assert _errno_of(lambda: _fsync_dir(mnt)) == errno.ENOSPC
        assert (mnt / "kept0").read_bytes() == acked["kept0"]
        # The kernel is told to forget its cached entry right after the reply (it cannot
        # be while the failing fsync holds the folder).
        _wait_for("the kernel forgetting the undone name",
                  lambda: not (mnt / "moved0").exists())
        assert sorted(os.listdir(mnt)) == sorted([*acked, "folder"])

        # 2. Failing again and again: the volume turns read-only, reads keep working.
        for i in range(1, FAILSAFE_AFTER):
            os.rename(mnt / f"kept{i}", mnt / f"moved{i}")
            assert _errno_of(lambda: _fsync_dir(mnt)) == errno.ENOSPC
        assert _errno_of(lambda: os.rename(mnt / "kept1", mnt / "x")) == errno.EROFS
        assert _errno_of(lambda: os.unlink(mnt / "kept2")) == errno.EROFS
        assert _errno_of(lambda: (mnt / "folder2").mkdir()) == errno.EROFS
        assert _errno_of(lambda: os.rmdir(mnt / "folder")) == errno.EROFS
        assert _errno_of(lambda: open(mnt / "kept3", "r+b")) == errno.EROFS  # noqa: SIM115
        assert _errno_of(lambda: os.chmod(mnt / "kept3", 0o600)) == errno.EROFS
        check_files(mnt, acked)
        _fsync_dir(mnt)  # nothing is pending: a read-only volume's fsync succeeds

        # 3. Unmounting works and says nothing failed at this point (it was told before).
        array.unmount()
        for filler in fillers:
            filler.unlink()
        mnt = array.mount()
        check_files(mnt, acked)
        assert not any(n.startswith("moved") for n in os.listdir(mnt))
        # Writable again, and what is written now is kept.
        more = os.urandom(MIB)
        assert write_file(mnt / "after", more, fsync=True)
        acked["after"] = more
        array.unmount()
        mnt = array.mount()
        check_files(mnt, acked)
        array.unmount()


def test_one_full_disk_costs_no_write(tmp_path: Path) -> None:
    """Only one member's disk is full: its metadata copy steps aside (reported in the log),
    the others take every commit, and nothing acknowledged is lost."""
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount(*NO_GROUP_COMMIT)
        (mnt / "a").write_bytes(b"first")
        _fsync_dir(mnt)
        array.unmount()
        mnt = array.mount(*NO_GROUP_COMMIT)
        filler = fill_disk(array.members[0])  # the primary copy of fs.db is on it
        for i in range(40):
            os.rename(mnt / ("a" if i == 0 else f"b{i - 1}"), mnt / f"b{i}")
            _fsync_dir(mnt)
        array.unmount()
        assert "its disk is full" in array.log()
        filler.unlink()
        mnt = array.mount()
        check_files(mnt, {"b39": b"first"})
        assert os.listdir(mnt) == ["b39"]
        array.unmount()


def _nasfs(nas: PolicyMount, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NASFS_RUN_DIR=str(nas.run_dir))
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args], env=env,
                          capture_output=True, text=True, cwd=REPO)


def _wait_for(what: str, ok: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := ok()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)
    return got


@pytest.fixture
def mail_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback that keeps what it receives."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_daemon_says_read_only_everywhere_and_retry_gets_out(
        tmp_path: Path, mail_server: tuple[Inbox, int]) -> None:
    inbox, port = mail_server
    with tmpfs_members(tmp_path, [24] * 3) as members:
        nas = PolicyMount(tmp_path, members)
        try:
            nas.start()
            nas.admin.share_create("docs")
            nas.admin.share_acl("docs", "everyone", None, "rw")
            for key, value in {"mail.host": "127.0.0.1", "mail.port": port,
                               "mail.starttls": False, "mail.from": "nas@example.com",
                               "mail.to": "admin@example.com", "mail.enabled": True}.items():
                nas.admin.settings_set(key, value)
            docs = nas.mnt / "docs"
            acked = {f"f{i}": os.urandom(100_000) for i in range(4)}
            for name, data in acked.items():
                assert write_file(docs / name, data, fsync=True)
            nas.stop()
            nas.start()  # a fresh database log, which the next commit must grow
            fillers = [fill_disk(m) for m in members]
            # Changes go on being tried; every commit fails; never EIO, and then EROFS.
            seen: list[int] = []
            for i in range(40):
                seen.append(_errno_of(functools.partial(os.rename, docs / "f0", docs / f"g{i}")))
                if seen[-1] == errno.EROFS:
                    break
                if seen[-1] == 0:
                    seen.append(_errno_of(lambda: _fsync_dir(docs)))
                    if seen[-1] == 0:  # the group commit failed first and undid the rename
                        assert (docs / "f0").exists()
                else:
                    assert seen[-1] == errno.ENOENT, seen  # renamed and not undone yet
            assert seen[-1] == errno.EROFS, seen
            assert set(seen) <= {0, errno.ENOSPC, errno.EROFS, errno.ENOENT}, seen
            check_files(docs, acked)  # reads go on
            status = nas.call("status")
            assert status["read_only"] and "full" in status["read_only"]
            assert any(e["kind"] == "read-only" for e in status["events"])
            text = _nasfs(nas, "status", str(nas.mnt))
            assert text.returncode == 4, text.stderr
            assert "READ-ONLY (fail-safe)" in text.stdout and "retry-writes" in text.stdout
            assert "READ-ONLY" in nas.log_path.read_text()  # the system log line
            mail = _wait_for("the read-only mail", lambda: inbox.find("READ-ONLY"))
            assert "retry-writes" in mail.get_content()
            # Still full: the retry says so and changes nothing.
            retry = _nasfs(nas, "retry-writes", str(nas.mnt))
            assert retry.returncode != 0 and "still cannot be saved" in retry.stderr
            assert nas.call("status")["read_only"]
            for filler in fillers:
                filler.unlink()
            retry = _nasfs(nas, "retry-writes", str(nas.mnt))
            assert retry.returncode == 0, retry.stderr
            assert "writable again" in retry.stdout
            assert nas.call("status")["read_only"] is None
            more = os.urandom(50_000)
            assert write_file(docs / "after", more, fsync=True)
            acked["after"] = more
            nas.stop()
            nas.start()
            check_files(docs, acked)
            assert not [n for n in os.listdir(docs) if n.startswith("g")]
            nas.stop()
        finally:
            nas.cleanup()
