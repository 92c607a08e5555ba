"""The access log of file operations through a real mount: each operation leaves exactly the
expected rows (user, uid, pid, process, share, path, second path, result, bytes)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuse_policy_util import PolicyMount, as_user, started

ALICE = 2001


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with started(tmp_path, users={"alice": ALICE},
                 shares={"docs": [("user", "alice", "rw")],
                         "ref": [("user", "alice", "ro")]}) as m:
        (m.mnt / "ref" / "open").write_bytes(b"anyone may write by mode")
        os.chmod(m.mnt / "ref" / "open", 0o666)
        yield m


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


def rows_of(nas: PolicyMount, uid: int, after_id: int, want: int) -> list[dict[str, Any]]:
    """`uid`'s access rows after `after_id`, polled until there are `want` of them.

    The log is written by a background task, and other users' rows (root's set-up, written
    late) may land after `after_id` too, so only `uid`'s own rows are counted; the generous
    deadline only bounds a failing run (the assertion then shows what was written)."""
    deadline = time.monotonic() + 120
    while True:
        got = nas.admin.log_query("access", after_id=after_id, limit=1000).rows
        mine = [r for r in got if r["uid"] == uid]
        if len(mine) >= want or time.monotonic() > deadline:
            return mine
        time.sleep(0.05)


def test_each_operation_leaves_its_row(nas: PolicyMount) -> None:
    start = nas.last_access_id()
    pid = as_user(ALICE, session, nas.mnt)
    rows = rows_of(nas, ALICE, start, 9)
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
