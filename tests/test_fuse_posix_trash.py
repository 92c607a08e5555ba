"""POSIX exactness inside a share with the trash on (issue 13), on a real daemon mount, as
root and as other uids: hard links and the trash, link counts of trashed and open files.

Only the last name of a file goes to the trash: with other names left, the data is still
reachable, so the name simply goes and st_nlink drops. A trashed file shows nlink 0 to
the processes that still have it open (the trash entry is no link users can observe)."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.client.trash import TrashClient
from tests.fuse_policy_util import PolicyMount, as_user, serve_nas

ALICE, BOB = 2001, 2002
USERS = (0, ALICE)  # root and an ordinary user


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    yield from serve_nas(tmp_path, "docs", {"alice": ALICE, "bob": BOB})


def trash_of(nas: PolicyMount) -> TrashClient:
    assert nas.client is not None
    return TrashClient(nas.client)


def run_as(uid: int, fn: object, *args: object) -> object:
    return as_user(uid, fn, *args)  # type: ignore[arg-type]


def _hard_link_then_remove_first(d: Path) -> tuple[int, bytes, int, int]:
    """echo hi > a; ln a b; rm a; echo more >> b; then chmod, chown to self, truncate, link."""
    (d / "a").write_bytes(b"hi\n")
    os.link(d / "a", d / "b")
    assert os.stat(d / "b").st_nlink == 2
    os.unlink(d / "a")
    with open(d / "b", "ab") as f:
        f.write(b"more\n")
    os.chmod(d / "b", 0o600)
    os.chown(d / "b", os.getuid(), os.getgid())
    os.truncate(d / "b", 7)
    os.link(d / "b", d / "c")
    nlink = os.stat(d / "b").st_nlink
    data = (d / "c").read_bytes()
    os.unlink(d / "c")
    return nlink, data, os.stat(d / "b").st_nlink, os.stat(d / "b").st_mode & 0o777


@pytest.mark.parametrize("uid", USERS)
def test_removing_one_of_several_names_leaves_the_others_writable(nas: PolicyMount,
                                                                   uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _hard_link_then_remove_first, d) == (2, b"hi\nmore", 1, 0o600)
    # The data stayed reachable through b all along: nothing went to the trash.
    assert trash_of(nas).items() == []
    assert os.listdir(nas.mnt / "docs" / "#trash") == []


def _rename_over_a_linked_file(d: Path) -> tuple[int, bytes, bytes]:
    (d / "x").write_bytes(b"x")
    os.link(d / "x", d / "x2")
    (d / "new").write_bytes(b"new")
    os.rename(d / "new", d / "x")  # replaces one name of two
    with open(d / "x2", "ab") as f:
        f.write(b"+")
    return os.stat(d / "x2").st_nlink, (d / "x2").read_bytes(), (d / "x").read_bytes()


@pytest.mark.parametrize("uid", USERS)
def test_rename_over_one_of_several_names(nas: PolicyMount, uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _rename_over_a_linked_file, d) == (1, b"x+", b"new")
    assert trash_of(nas).items() == []


def _unlink_open_file(d: Path) -> tuple[int, int, bytes, int, int]:
    fd = os.open(d / "f", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"kept")
        before = os.fstat(fd).st_nlink
        os.unlink(d / "f")
        after = os.fstat(fd).st_nlink
        os.write(fd, b" still")
        data = os.pread(fd, 100, 0)
        # The unlinked open file is the caller's own, as anywhere: fchmod and ftruncate work.
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 4)
        st = os.fstat(fd)
        return before, after, data, st.st_size, st.st_mode & 0o777
    finally:
        os.close(fd)


@pytest.mark.parametrize("uid", USERS)
def test_unlinked_open_file_shows_nlink_0_and_is_kept_in_the_trash(nas: PolicyMount,
                                                                    uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _unlink_open_file, d) == (1, 0, b"kept still", 4, 0o600)
    items = [i for i in trash_of(nas).items() if i.reason == "unlink"]
    assert [(i.path, i.uid) for i in items] == [(f"/u{uid}/f", uid)]
    entry = nas.mnt / "docs" / "#trash" / f"f #{items[0].id}"
    # Seen through #trash: the kept content, its #trash name as its one link, read-only.
    st = os.stat(entry)
    assert (st.st_nlink, st.st_size) == (1, 4)
    assert run_as(uid, Path.read_bytes, entry) == b"kept"
    assert run_as(uid, os.chmod, entry, 0o644) == errno.EACCES
    # The gate refuses new links to an item in the trash.
    assert run_as(uid, os.link, entry, d / "back") == errno.EACCES
    # Restored, it has its link again.
    trash_of(nas).restore(items[0].id)
    assert os.stat(d / "f").st_nlink == 1
    assert run_as(uid, os.chmod, d / "f", 0o640) is None


def _rename_over_open_file(d: Path) -> tuple[int, bytes, int]:
    (d / "old").write_bytes(b"old")
    fd = os.open(d / "old", os.O_RDONLY)
    try:
        (d / "tmp").write_bytes(b"new")
        os.rename(d / "tmp", d / "old")
        return os.fstat(fd).st_nlink, os.pread(fd, 10, 0), os.stat(d / "old").st_nlink
    finally:
        os.close(fd)


@pytest.mark.parametrize("uid", USERS)
def test_rename_over_an_open_file(nas: PolicyMount, uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _rename_over_open_file, d) == (0, b"old", 1)
    assert [(i.path, i.reason) for i in trash_of(nas).items()] == [(f"/u{uid}/old",
                                                                    "replaced")]


def test_purged_item_open_elsewhere_stays_readable_and_restart_keeps_items(
        nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    (d / "p").write_bytes(b"purge me")
    (d / "k").write_bytes(b"keep me")
    with open(d / "p", "rb") as f:
        os.unlink(d / "p")
        os.unlink(d / "k")
        p_item, k_item = trash_of(nas).items()
        trash_of(nas).purge(p_item.id)
        assert f.read() == b"purge me"
        assert os.fstat(f.fileno()).st_nlink == 0
    # The kept item survives the kernel forgetting it and a restart of the daemon.
    nas.stop()
    nas.start()
    assert [i.id for i in trash_of(nas).items()] == [k_item.id]
    assert (d / "#trash" / f"k #{k_item.id}").read_bytes() == b"keep me"


RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(src: Path, dst: Path, flags: int) -> int:
    """renameat2(2); 0 or the errno."""
    rc = _libc.renameat2(-100, os.fsencode(src), -100, os.fsencode(dst), flags)
    return 0 if rc == 0 else ctypes.get_errno()


def _rename_flags(d: Path) -> tuple[int, ...]:
    (d / "a").write_bytes(b"a")
    (d / "b").write_bytes(b"b")
    unknown = renameat2(d / "a", d / "w", 1 << 7)
    both = renameat2(d / "a", d / "b", RENAME_NOREPLACE | RENAME_EXCHANGE)
    exchange_whiteout = renameat2(d / "a", d / "b", RENAME_EXCHANGE | RENAME_WHITEOUT)
    noreplace = renameat2(d / "a", d / "b", RENAME_NOREPLACE)
    exchange = renameat2(d / "a", d / "b", RENAME_EXCHANGE)
    return (unknown, both, exchange_whiteout, noreplace, exchange,
            int((d / "a").read_bytes() == b"b"), int((d / "w").exists()))


@pytest.mark.parametrize("uid", USERS)
def test_rename_flags_not_implemented_are_refused(nas: PolicyMount, uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _rename_flags, d) == (
        errno.EINVAL, errno.EINVAL, errno.EINVAL, errno.EEXIST, 0, 1, 0)
    assert trash_of(nas).items() == []  # an exchange replaces nothing


def _whiteout(d: Path) -> tuple[object, ...]:
    (d / "src").write_bytes(b"moved")
    (d / "old").write_bytes(b"replaced")
    rc = renameat2(d / "src", d / "old", RENAME_WHITEOUT)
    if rc:
        return (rc, (d / "src").read_bytes())
    st = os.lstat(d / "src")
    return (rc, stat.S_ISCHR(st.st_mode), st.st_mode & 0o7777, st.st_rdev, st.st_uid,
            st.st_nlink, (d / "old").read_bytes())


@pytest.mark.parametrize("uid", USERS)
def test_rename_whiteout_leaves_a_0_0_character_device(nas: PolicyMount, uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    # As on ext4: a character device 0:0 of the caller takes the source's place (Linux has
    # not asked for CAP_MKNOD since 5.8); the replaced file goes to the trash.
    assert run_as(uid, _whiteout, d) == (0, True, 0, 0, uid, 1, b"moved")
    assert [(i.path, i.reason) for i in trash_of(nas).items()] == [(f"/u{uid}/old",
                                                                    "replaced")]


def _ctimes_across_rename(d: Path) -> tuple[bool, bool, bool]:
    (d / "f").write_bytes(b"f")
    (d / "sub").mkdir()
    (d / "g").write_bytes(b"g")
    before = os.stat(d / "f").st_ctime_ns
    dir_before = os.stat(d / "sub").st_ctime_ns
    time.sleep(0.01)  # ordering, not timing: ctime must move past the earlier value
    os.rename(d / "f", d / "sub" / "f")
    moved = os.stat(d / "sub" / "f").st_ctime_ns > before
    os.rename(d / "sub", d / "sub2")
    dir_moved = os.stat(d / "sub2").st_ctime_ns > dir_before
    g_before = os.stat(d / "g").st_ctime_ns
    time.sleep(0.01)
    os.rename(d / "g", d / "sub2" / "f")  # over a file, which goes to the trash
    return moved, dir_moved, os.stat(d / "sub2" / "f").st_ctime_ns > g_before


@pytest.mark.parametrize("uid", USERS)
def test_rename_updates_ctime(nas: PolicyMount, uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _ctimes_across_rename, d) == (True, True, True)


def _sparse_blocks(d: Path) -> tuple[int, ...]:
    p = d / "sparse"
    with open(p, "wb") as f:
        f.seek(1 << 30)
        f.write(b"tail")  # one record holding 4 bytes, after a 1 GiB hole
        os.fsync(f.fileno())
    stored = os.stat(p).st_blocks
    dense = d / "dense"
    dense.write_bytes(os.urandom(3 << 20) + b"x")  # three whole records and one byte
    os.truncate(dense, 2 << 20)  # the last two records go
    zeros = d / "zeros"
    with open(zeros, "wb") as f:
        f.write(bytes(2 << 20))
        os.fsync(f.fileno())  # all-zero records are never stored
    return (stored, os.stat(p).st_size, os.stat(dense).st_blocks,
            os.stat(zeros).st_blocks)


@pytest.mark.parametrize("uid", USERS)
def test_st_blocks_count_what_is_stored(nas: PolicyMount, uid: int) -> None:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    assert run_as(uid, _sparse_blocks, d) == (1, (1 << 30) + 4, 4096, 0)


def _link_remove_newer_chmod(d: Path) -> None:
    (d / "a").write_bytes(b"a")
    os.link(d / "a", d / "b")  # the newest name the gate knows the inode by
    os.unlink(d / "b")
    os.chmod(d / "a", 0o600)


@pytest.mark.parametrize("trash", [True, False])
def test_log_names_a_remaining_name(nas: PolicyMount, trash: bool) -> None:
    share = "docs"
    if not trash:
        share = "scratch"
        nas.admin.share_create(share, trash_days=None)
        nas.admin.share_acl(share, "everyone", None, "rw")
    d = nas.mnt / share / "u"
    d.mkdir()
    os.chown(d, ALICE, ALICE)
    after = nas.last_access_id()
    assert as_user(ALICE, _link_remove_newer_chmod, d) is None
    rows = nas.access_rows(after_id=after, expect=1)
    for _ in range(10):  # the log writer batches: wait (bounded) for the chmod row
        if any(r["operation"] == "chmod" for r in rows):
            break
        rows = nas.access_rows(after_id=after, expect=len(rows) + 1)
    chmod = [r for r in rows if r["operation"] == "chmod"]
    assert [(r["share"], r["path"], r["result"]) for r in chmod] == [(share, "/u/a", "OK")]
