"""Share ACLs through a real mount, as real distinct uids: read-write, read-only, no access,
groups, everyone, deny precedence, homes, EXDEV, top-level creation, administrator access
in the log, force_group/create_mode/dir_mode, and changes taking effect at once."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuse_policy_util import PolicyMount, as_user, started

ALICE, BOB, CAROL, GUEST = 2001, 2002, 2003, 2999


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with started(tmp_path, users={"alice": ALICE, "bob": BOB, "carol": CAROL}) as m:
        m.admin.group_add("sales", 3000)
        m.admin.group_adduser("sales", "alice")
        m.admin.group_adduser("sales", "carol")
        yield m


def write(path: Path, data: bytes = b"x") -> int:
    with open(path, "wb") as f:
        return f.write(data)


def read(path: Path) -> bytes:
    return path.read_bytes()


def listdir(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_share_create_makes_the_folder_at_once(nas: PolicyMount) -> None:
    nas.admin.share_create("docs")
    assert (nas.mnt / "docs").is_dir()
    assert "docs" in os.listdir(nas.mnt)
    # No ACL entry: no access; listed but not enterable, for a user and for a guest.
    for uid in (ALICE, GUEST):
        assert "docs" in as_user(uid, listdir, nas.mnt)
        assert as_user(uid, listdir, nas.mnt / "docs") == errno.EACCES
        assert as_user(uid, write, nas.mnt / "docs" / "f") == errno.EACCES


def test_read_write_read_only_and_groups(nas: PolicyMount) -> None:
    a = nas.admin
    a.share_create("proj")
    a.share_acl("proj", "user", "alice", "rw")
    a.share_acl("proj", "user", "bob", "ro")
    write(nas.mnt / "proj" / "readme", b"hello")
    os.chmod(nas.mnt / "proj" / "readme", 0o666)
    os.chown(nas.mnt / "proj" / "readme", BOB, BOB)  # so only the ACL can refuse Bob a chmod
    d = nas.mnt / "proj"
    assert as_user(ALICE, write, d / "a.txt", b"alice") == 5
    assert as_user(ALICE, read, d / "readme") == b"hello"
    assert as_user(BOB, read, d / "a.txt") == b"alice"
    assert as_user(BOB, listdir, d) == ["#snapshot", "#trash", "a.txt", "readme"]
    # Read-only: every write-type operation is EACCES, never EROFS, even where the mode
    # bits would allow it.
    assert as_user(BOB, write, d / "b.txt") == errno.EACCES
    assert as_user(BOB, write, d / "readme") == errno.EACCES
    assert as_user(BOB, os.mkdir, d / "sub") == errno.EACCES
    assert as_user(BOB, os.unlink, d / "readme") == errno.EACCES
    assert as_user(BOB, os.chmod, d / "readme", 0o600) == errno.EACCES
    assert as_user(BOB, os.setxattr, d / "readme", "user.x", b"1") == errno.EACCES
    assert as_user(BOB, os.rename, d / "readme", d / "r2") == errno.EACCES
    assert as_user(BOB, os.truncate, d / "readme", 0) == errno.EACCES
    # Carol: no entry of her own, the group grants read-write.
    a.share_acl("proj", "group", "sales", "rw")
    assert as_user(CAROL, write, d / "c.txt", b"cc") == 2
    # Deny precedence: a `none` entry wins over the group's rw, at once.
    a.share_acl("proj", "user", "carol", "none")
    assert as_user(CAROL, read, d / "c.txt") == errno.EACCES
    assert as_user(CAROL, listdir, d) == errno.EACCES
    assert as_user(ALICE, read, d / "c.txt") == b"cc"


def test_everyone_and_guests(nas: PolicyMount) -> None:
    a = nas.admin
    a.share_create("public")
    a.share_acl("public", "everyone", None, "rw")
    d = nas.mnt / "public"
    assert as_user(BOB, write, d / "bob.txt", b"b") == 1
    assert as_user(ALICE, read, d / "bob.txt") == b"b"
    # Guests (uids that are no NAS user) match no entry, not even everyone.
    assert as_user(GUEST, listdir, d) == errno.EACCES
    a.share_acl("public", "user", "bob", "none")
    assert as_user(BOB, read, d / "bob.txt") == errno.EACCES


def test_top_level_is_for_administrators(nas: PolicyMount) -> None:
    nas.admin.share_create("s")
    nas.admin.share_acl("s", "everyone", None, "rw")
    for probe in (lambda: os.mkdir(nas.mnt / "new"), lambda: write(nas.mnt / "new"),
                  lambda: os.rename(nas.mnt / "s", nas.mnt / "t"),
                  lambda: os.symlink("x", nas.mnt / "ln")):
        assert as_user(ALICE, probe) == errno.EACCES
    # Moving a file out of a share to the top level is a top-level creation as well.
    write(nas.mnt / "s" / "f")
    assert as_user(ALICE, os.rename, nas.mnt / "s" / "f", nas.mnt / "f") == errno.EACCES
    # The administrator may; share folders themselves are not renamed or removed by hand.
    os.mkdir(nas.mnt / "adminonly")
    assert "adminonly" not in as_user(ALICE, listdir, nas.mnt)
    with pytest.raises(OSError) as exc:
        os.rmdir(nas.mnt / "s")
    assert exc.value.errno in (errno.EBUSY, errno.ENOTEMPTY)


def test_rename_and_link_across_shares_is_exdev(nas: PolicyMount) -> None:
    a = nas.admin
    for name in ("one", "two"):
        a.share_create(name)
        a.share_acl(name, "everyone", None, "rw")
    f = nas.mnt / "one" / "f"
    assert as_user(ALICE, write, f) == 1
    assert as_user(ALICE, os.rename, f, nas.mnt / "two" / "f") == errno.EXDEV
    assert as_user(ALICE, os.link, f, nas.mnt / "two" / "f") == errno.EXDEV
    assert as_user(ALICE, os.mkdir, nas.mnt / "one" / "d") is None
    assert as_user(ALICE, os.rename, nas.mnt / "one" / "d", nas.mnt / "two" / "d") == errno.EXDEV
    # Same share: fine.
    assert as_user(ALICE, os.rename, f, nas.mnt / "one" / "d" / "g") is None
    assert as_user(ALICE, os.link, nas.mnt / "one" / "d" / "g", nas.mnt / "one" / "h") is None
    # The administrator gets EXDEV too: it is a property of the volume, not a permission.
    with pytest.raises(OSError) as exc:
        os.rename(nas.mnt / "one" / "h", nas.mnt / "two" / "h")
    assert exc.value.errno == errno.EXDEV


def test_force_group_and_modes(nas: PolicyMount) -> None:
    a = nas.admin
    a.share_create("dept", force_group="sales", create_mode="0664", dir_mode="2775")
    a.share_acl("dept", "group", "sales", "rw")
    d = nas.mnt / "dept"
    # The share folder gets dir_mode and the group, so Unix members of the group may write.
    st = os.stat(d)
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (3000, 0o2775)
    assert as_user(ALICE, write, d / "plan.txt", b"v1", groups=[3000]) == 2
    assert as_user(ALICE, os.mkdir, d / "sub", groups=[3000]) is None
    st = os.stat(d / "plan.txt")
    assert (st.st_gid, stat.S_IMODE(st.st_mode), st.st_uid) == (3000, 0o664, ALICE)
    st = os.stat(d / "sub")
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (3000, 0o2775)
    # So a colleague in the group may edit the file (ordinary POSIX rules inside).
    assert as_user(CAROL, write, d / "plan.txt", b"v2!", gid=CAROL, groups=[3000]) == 3


def test_homes(nas: PolicyMount) -> None:
    a = nas.admin
    a.share_create("homes", homes=True)
    a.share_acl("homes", "everyone", None, "rw")
    h = nas.mnt / "homes"
    # Created on first use, owned by the user, visible to them alone.
    assert as_user(ALICE, listdir, h) == ["#snapshot", "#trash", "alice"]
    assert as_user(ALICE, write, h / "alice" / "diary", b"secret") == 6
    assert as_user(BOB, listdir, h) == ["#snapshot", "#trash", "bob"]
    for probe in (os.stat, os.listdir, read):
        assert as_user(BOB, probe, h / "alice") == errno.ENOENT
    assert as_user(BOB, read, h / "alice" / "diary") == errno.ENOENT
    assert as_user(BOB, os.mkdir, h / "alice2") == errno.EACCES
    assert os.stat(h / "alice").st_uid == ALICE
    # the administrator sees all
    assert sorted(os.listdir(h)) == ["#snapshot", "#trash", "alice", "bob"]
    assert (h / "alice" / "diary").read_bytes() == b"secret"


def test_administrator_access_is_logged(nas: PolicyMount) -> None:
    a = nas.admin
    a.share_create("private")
    a.share_acl("private", "user", "alice", "rw")
    assert as_user(ALICE, write, nas.mnt / "private" / "f", b"abc") == 3
    start = nas.last_access_id()
    assert (nas.mnt / "private" / "f").read_bytes() == b"abc"
    rows = [r for r in nas.access_rows(after_id=start, expect=1)
            if r["operation"] == "open-read"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["user"], row["uid"], row["share"], row["path"], row["admin"], row["bytes"]) == (
        "root", 0, "private", "/f", True, 3)


def open_truncating(path: Path) -> int:
    os.close(os.open(path, os.O_RDONLY | os.O_TRUNC))
    return 0


def test_a_read_only_user_cannot_truncate_with_a_read_open(nas: PolicyMount) -> None:
    # Linux truncates on open(O_RDONLY | O_TRUNC) and asks for write permission for it; the
    # mode bits allow it here, so only the gate can refuse, and it judges the open a write.
    a = nas.admin
    a.share_create("proj")
    a.share_acl("proj", "user", "bob", "ro")
    f = nas.mnt / "proj" / "readme"
    write(f, b"hello")
    os.chmod(f, 0o666)
    start = nas.last_access_id()
    assert as_user(BOB, open_truncating, f) == errno.EACCES
    assert f.read_bytes() == b"hello"
    rows = [r for r in nas.access_rows(after_id=start, expect=1) if r["uid"] == BOB]
    assert [(r["share"], r["path"], r["result"]) for r in rows] == [("proj", "/readme",
                                                                      "EACCES")]
