"""The trash through a real mount: every deleting operation (unlink, tree delete, rename over
a file, O_TRUNC, truncate to zero) lands in the share's trash with the right metadata; restore
(original path, beside a taken name, by moving out of `#trash`) and purge through the
daemon; `#trash` is read-only and shows each user their own deletions; `--no-trash`."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.client.trash import TrashClient
from tests.conftest import REPO  # the tree under test, not another checkout
from tests.fuse_policy_util import PolicyMount, as_user, serve_nas

ALICE, BOB = 2001, 2002


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    yield from serve_nas(tmp_path, "docs", {"alice": ALICE, "bob": BOB})


def trash_of(nas: PolicyMount) -> TrashClient:
    assert nas.client is not None
    return TrashClient(nas.client)


def put(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def listdir(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_unlink_goes_to_trash_and_trash_folder_is_per_user(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    assert as_user(ALICE, os.mkdir, d / "sub") is None
    assert as_user(ALICE, put, d / "sub" / "a.txt", b"alice's") is None
    assert as_user(BOB, put, d / "b.txt", b"bob") is None
    ino = os.stat(d / "sub" / "a.txt").st_ino
    assert as_user(ALICE, os.unlink, d / "sub" / "a.txt") is None
    assert as_user(BOB, os.unlink, d / "b.txt") is None
    assert not (d / "sub" / "a.txt").exists()
    items = trash_of(nas).items("docs")
    assert [(i.path, i.user, i.uid, i.size, i.reason) for i in items] == [
        ("/sub/a.txt", "alice", ALICE, 7, "unlink"), ("/b.txt", "bob", BOB, 3, "unlink")]
    a_id, b_id = items[0].id, items[1].id
    # Each user sees their own deletions; the administrator sees all.
    assert as_user(ALICE, listdir, d / "#trash") == [f"a.txt #{a_id}"]
    assert as_user(BOB, listdir, d / "#trash") == [f"b.txt #{b_id}"]
    assert listdir(d / "#trash") == sorted([f"a.txt #{a_id}", f"b.txt #{b_id}"])
    assert as_user(BOB, os.stat, d / "#trash" / f"a.txt #{a_id}") == errno.ENOENT
    # Same inode, same data: nothing was copied.
    entry = d / "#trash" / f"a.txt #{a_id}"
    assert os.stat(entry).st_ino == ino
    assert as_user(ALICE, Path.read_bytes, entry) == b"alice's"
    # Read-only: no writes of any kind inside #trash.
    assert as_user(ALICE, put, entry, b"x") == errno.EACCES
    assert as_user(ALICE, put, d / "#trash" / "new", b"x") == errno.EACCES
    assert as_user(ALICE, os.unlink, entry) == errno.EACCES
    assert as_user(ALICE, os.mkdir, d / "#trash" / "x") == errno.EACCES
    assert as_user(ALICE, os.rename, d / "sub", d / "#trash" / "sub") == errno.EACCES
    assert as_user(ALICE, os.mkdir, d / "#trash") == errno.EEXIST
    assert as_user(ALICE, os.mkdir, d / "#snapshot") == errno.EEXIST
    assert trash_of(nas).usage() == {"docs": {"items": 2, "bytes": 10}}


def test_tree_delete_and_restore_of_the_layout(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"

    def build_and_remove() -> None:
        os.makedirs(d / "proj" / "src")
        put(d / "proj" / "README", b"r")
        put(d / "proj" / "src" / "main.c", b"int main;")
        subprocess.run(["rm", "-r", str(d / "proj")], check=True)

    assert as_user(ALICE, build_and_remove) is None
    assert not (d / "proj").exists()
    items = trash_of(nas).items("docs", user="alice")
    assert sorted(i.path for i in items) == ["/proj/README", "/proj/src/main.c"]
    for item in items:
        trash_of(nas).restore(item.id)
    assert (d / "proj" / "src" / "main.c").read_bytes() == b"int main;"
    assert (d / "proj" / "README").read_bytes() == b"r"
    assert trash_of(nas).items("docs") == []


def test_rename_over_and_truncation_keep_the_old_content(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"

    def work() -> None:
        put(d / "report", b"version 1")
        put(d / "tmp", b"version 2")
        os.rename(d / "tmp", d / "report")  # the save-by-rename of editors
        put(d / "report", b"version 3")  # O_TRUNC
        os.truncate(d / "report", 0)
        with open(d / "report", "ab") as f:
            f.write(b"v4")
        put(d / "empty", b"")
        put(d / "empty", b"e")  # truncating an empty file keeps nothing

    ino_before = None
    assert as_user(ALICE, work) is None
    ino_before = os.stat(d / "report").st_ino
    items = trash_of(nas).items("docs")
    assert [(i.path, i.reason, i.size) for i in items] == [
        ("/report", "replaced", 9), ("/report", "truncated", 9), ("/report", "truncated", 9)]
    contents = [(d / "#trash" / f"report #{i.id}").read_bytes() for i in items]
    assert contents == [b"version 1", b"version 2", b"version 3"]
    assert (d / "report").read_bytes() == b"v4"
    assert os.stat(d / "report").st_ino == ino_before
    # Restoring beside the taken name.
    done = trash_of(nas).restore(items[0].id)
    assert done.path.startswith("/report (restored ") and done.path.endswith(")")
    assert (d / done.path.lstrip("/")).read_bytes() == b"version 1"
    # Restoring elsewhere, and by moving the item out of #trash.
    trash_of(nas).restore(items[1].id, to="docs/old/v2")
    assert (d / "old" / "v2").read_bytes() == b"version 2"
    assert as_user(ALICE, os.rename, d / "#trash" / f"report #{items[2].id}",
                   d / "v3") is None
    assert (d / "v3").read_bytes() == b"version 3"
    assert trash_of(nas).items() == []
    # Moving out of #trash into another share is a cross-share move.
    nas.admin.share_create("other")
    nas.admin.share_acl("other", "everyone", None, "rw")
    assert as_user(ALICE, os.unlink, d / "v3") is None
    (item,) = trash_of(nas).items()
    assert as_user(ALICE, os.rename, d / "#trash" / f"v3 #{item.id}",
                   nas.mnt / "other" / "v3") == errno.EXDEV


def test_purge_and_no_trash_shares(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    for n in range(3):
        put(d / f"f{n}", b"data")
        os.unlink(d / f"f{n}")
    ids = [i.id for i in trash_of(nas).items()]
    assert [i.id for i in trash_of(nas).purge(ids[0])] == [ids[0]]
    assert not (d / "#trash" / f"f0 #{ids[0]}").exists()
    assert sorted(i.id for i in trash_of(nas).purge(older_than_days=0)) == ids[1:]
    assert os.listdir(d / "#trash") == []
    nas.admin.share_create("scratch", trash_days=None)
    nas.admin.share_acl("scratch", "everyone", None, "rw")
    put(nas.mnt / "scratch" / "tmp", b"gone")
    os.unlink(nas.mnt / "scratch" / "tmp")
    put(nas.mnt / "scratch" / "t2", b"gone")
    put(nas.mnt / "scratch" / "t2", b"new")
    assert trash_of(nas).items() == []


def test_cli(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    put(d / "x", b"12345")
    os.unlink(d / "x")
    env = dict(os.environ, NASFS_SOCKET=str(nas.socket))
    nasfs = [sys.executable, "-m", "nasfs.cli.main"]
    out = subprocess.run([*nasfs, "trash", "list", "docs"], env=env, capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    assert "docs/x" in out and "5 bytes" in out
    assert "(deleted)" in out  # the access log's `delete`, not the internal `unlink`
    (item,) = trash_of(nas).items()
    out = subprocess.run([*nasfs, "trash", "restore", str(item.id)], env=env,
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == f"restored #{item.id} to docs/x"
    assert (d / "x").read_bytes() == b"12345"
    bad = subprocess.run([*nasfs, "trash", "restore", "999"], env=env, capture_output=True,
                         text=True, cwd=REPO)
    assert bad.returncode == 1 and bad.stderr.strip() == "nasfs: trash item 999 does not exist"
