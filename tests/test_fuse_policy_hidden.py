"""Hidden (shadow) shares through a real mount: for a user without access, every probe of
the name behaves exactly as for a name that does not exist — and the administrator's
cached view never leaks to them (zero kernel timeouts on the top level)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuse_policy_util import PolicyMount, as_user, serve_nas

ALICE, BOB = 2001, 2002


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    yield from serve_nas(tmp_path, "public", {"alice": ALICE, "bob": BOB})


def probes(mnt: Path, name: str) -> dict[str, Callable[[], Any]]:
    p = mnt / name

    def open_read() -> Any:
        with open(p, "rb"):
            return None

    def rename_to() -> Any:
        return os.rename(mnt / "public" / "mine", p)

    def statvfs() -> Any:
        # Free blocks and free inodes follow the member disks' free space (shared with the
        # rest of this machine), so they move by themselves; the other figures must not.
        s = os.statvfs(mnt)
        return (s.f_blocks, s.f_bsize, s.f_files, s.f_namemax)

    def root_stat() -> Any:
        s = os.stat(mnt)
        return (s.st_nlink, s.st_mode, s.st_size)

    return {
        "lookup/stat": lambda: os.stat(p),
        "lstat": lambda: os.lstat(p),
        "open": open_read,
        "opendir": lambda: os.listdir(p),
        "child": lambda: os.stat(p / "inside"),
        "mkdir": lambda: os.mkdir(p),
        "create": lambda: open(p, "xb"),
        "rename-to": rename_to,
        "getxattr": lambda: os.getxattr(p, "user.x"),
        "listxattr": lambda: os.listxattr(p),
        "setxattr": lambda: os.setxattr(p, "user.x", b"1"),
        "chdir": lambda: os.chdir(p),
        "access": lambda: os.access(p, os.F_OK),
        "root listing": lambda: sorted(os.listdir(mnt)),
        "statvfs": statvfs,
        "root stat": root_stat,
    }


def observe(uid: int, mnt: Path, name: str) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, probe in probes(mnt, name).items():
            try:
                value = probe()
                out[label] = "ok" if label not in ("root listing", "statvfs", "root stat",
                                                   "access") else value
            except OSError as exc:
                out[label] = errno.errorcode[exc.errno or 0]
        return out

    return as_user(uid, run)  # type: ignore[no-any-return]


def test_every_probe_of_a_hidden_share_looks_like_nothing(nas: PolicyMount) -> None:
    assert as_user(BOB, lambda: open(nas.mnt / "public" / "mine", "wb").close()) is None
    before = observe(BOB, nas.mnt, "secret")
    nas.admin.share_create("secret", hidden=True)
    nas.admin.share_acl("secret", "user", "alice", "rw")
    (nas.mnt / "secret" / "inside").write_bytes(b"x")  # the administrator caches it all
    os.listdir(nas.mnt / "secret")
    after = observe(BOB, nas.mnt, "secret")
    assert after == before
    assert before["lookup/stat"] == "ENOENT" and before["mkdir"] == "EACCES"
    assert "secret" not in before["root listing"]
    # The user with access sees and uses it; then Bob again, right after her.
    assert as_user(ALICE, os.listdir, nas.mnt / "secret") == ["#trash", "#snapshot", "inside"]
    assert "secret" in as_user(ALICE, os.listdir, nas.mnt)
    assert observe(BOB, nas.mnt, "secret") == before
    # Revoking Alice's access hides it from her at once.
    nas.admin.share_acl("secret", "user", "alice", "none")
    assert observe(ALICE, nas.mnt, "secret") == observe(ALICE, nas.mnt, "nothing-here")
    # Guests too.
    assert observe(2999, nas.mnt, "secret") == observe(2999, nas.mnt, "nothing-here")


def test_visible_share_without_access_is_listed_but_closed(nas: PolicyMount) -> None:
    nas.admin.share_create("closed")
    nas.admin.share_acl("closed", "user", "alice", "rw")
    (nas.mnt / "closed" / "f").write_bytes(b"x")
    os.stat(nas.mnt / "closed" / "f")
    assert "closed" in as_user(BOB, os.listdir, nas.mnt)
    assert as_user(BOB, os.listdir, nas.mnt / "closed") == errno.EACCES
    assert as_user(BOB, os.stat, nas.mnt / "closed" / "f") == errno.EACCES
    assert as_user(BOB, lambda: open(nas.mnt / "closed" / "f", "rb").close()) == errno.EACCES
    assert as_user(ALICE, (nas.mnt / "closed" / "f").read_bytes) == b"x"
