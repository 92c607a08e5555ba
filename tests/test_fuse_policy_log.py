"""The access log of file operations through a real mount: each operation leaves exactly the
expected rows (user, uid, pid, process, share, path, second path, result, bytes)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuse_policy_util import PolicyMount, as_user

ALICE = 2001


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    m = PolicyMount(tmp_path)
    try:
        m.start()
        m.admin.user_add("alice", ALICE)
        m.admin.share_create("docs")
        m.admin.share_acl("docs", "user", "alice", "rw")
        m.admin.share_create("ref")
        m.admin.share_acl("ref", "user", "alice", "ro")
        (m.mnt / "ref" / "open").write_bytes(b"anyone may write by mode")
        os.chmod(m.mnt / "ref" / "open", 0o666)
        yield m
        m.stop()
    finally:
        m.cleanup()


def session(mnt: Path) -> int:
    d = mnt / "docs"
    with open(d / "f", "wb") as f:
        f.write(b"hello")
    with open(d / "f", "rb") as f:
        f.read()
    os.rename(d / "f", d / "g")
    os.chmod(d / "g", 0o600)
    os.setxattr(d / "g", "user.tag", b"1")
    os.unlink(d / "g")
    with contextlib.suppress(PermissionError), open(mnt / "ref" / "open", "r+b"):
        pass
    (item,) = [n for n in os.listdir(d / "#trash")]
    os.rename(d / "#trash" / item, d / "back")
    os.mkdir(d / "sub")
    return os.getpid()


def test_each_operation_leaves_its_row(nas: PolicyMount) -> None:
    start = nas.last_access_id()
    pid = as_user(ALICE, session, nas.mnt)
    rows = [r for r in nas.access_rows(after_id=start, expect=9) if r["uid"] == ALICE]
    got = [(r["operation"], r["share"], r["path"], r["second_path"], r["result"], r["bytes"])
           for r in rows]
    assert got == [
        ("create", "docs", "/f", None, "OK", 5),
        ("open-read", "docs", "/f", None, "OK", 5),
        ("rename", "docs", "/f", "/g", "OK", None),
        ("chmod", "docs", "/g", None, "OK", None),
        ("setxattr", "docs", "/g", None, "OK", None),
        ("delete", "docs", "/g", None, "OK", 5),
        ("open-write", "ref", "/open", None, "EACCES", None),
        ("restore", "docs", "/g", "/back", "OK", None),
        ("mkdir", "docs", "/sub", None, "OK", None),
    ]
    for r in rows:
        assert (r["user"], r["pid"], r["process"], r["admin"]) == (
            "alice", pid, "python", False), r
    assert rows[5]["detail"].startswith("to trash #")
    assert nas.admin.log_verify("access").ok
