"""POSIX behaviour through a real mount: real syscalls, exact errno values, other uids."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import pickle
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MountedArray

libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def renameat2(src: Path, dst: Path, flags: int) -> None:
    rc = libc.renameat2(-100, os.fsencode(src), -100, os.fsencode(dst), flags)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def as_user(uid: int, gid: int, fn: Callable[[], Any], groups: tuple[int, ...] = ()) -> Any:
    """Run `fn` in a forked child with the given credentials; re-raise its OSError here."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            try:
                result: Any = ("ok", fn())
            except OSError as exc:
                result = ("err", exc.errno)
            os.write(w, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "err":
        raise OSError(value, os.strerror(value))
    return value


def expect_errno(code: int, fn: Callable[[], Any]) -> None:
    with pytest.raises(OSError) as info:
        fn()
    assert info.value.errno == code, f"expected {errno.errorcode[code]}, got {info.value}"


@pytest.fixture
def mnt(mounted: MountedArray) -> Path:
    return mounted.mountpoint


def test_files_directories_and_errors(mnt: Path) -> None:
    (mnt / "d").mkdir()
    (mnt / "d" / "f").write_bytes(b"x")
    expect_errno(errno.EEXIST, lambda: (mnt / "d").mkdir())
    expect_errno(errno.ENOTEMPTY, lambda: (mnt / "d").rmdir())
    expect_errno(errno.ENOTDIR, lambda: (mnt / "d" / "f").rmdir())
    expect_errno(errno.EISDIR, lambda: os.unlink(mnt / "d"))
    expect_errno(errno.ENOENT, lambda: os.stat(mnt / "missing"))
    expect_errno(errno.ENOTDIR, lambda: os.stat(mnt / "d" / "f" / "x"))
    expect_errno(errno.EEXIST, lambda: os.open(mnt / "d" / "f", os.O_CREAT | os.O_EXCL))
    expect_errno(errno.EISDIR, lambda: os.open(mnt / "d", os.O_WRONLY))
    assert os.stat(mnt).st_nlink == 3
    assert os.stat(mnt / "d").st_nlink == 2
    (mnt / "d" / "f").unlink()
    (mnt / "d").rmdir()
    assert os.stat(mnt).st_nlink == 2
    assert os.listdir(mnt) == []


def test_names_long_and_non_utf8(mnt: Path) -> None:
    ok = b"n" * 255
    fd = os.open(os.fsencode(mnt) + b"/" + ok, os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    long = os.fsencode(mnt) + b"/" + b"n" * 256
    expect_errno(errno.ENAMETOOLONG, lambda: os.open(long, os.O_CREAT | os.O_WRONLY))
    expect_errno(errno.ENAMETOOLONG, lambda: os.stat(long))
    expect_errno(errno.ENAMETOOLONG, lambda: os.mkdir(long))
    weird = b"caf\xe9-\xff\xfe"
    with open(os.fsencode(mnt) + b"/" + weird, "wb") as f:
        f.write(b"latin1")
    names = os.listdir(os.fsencode(mnt))
    assert weird in names and ok in names
    with open(os.fsencode(mnt) + b"/" + weird, "rb") as f:
        assert f.read() == b"latin1"
    expect_errno(errno.ENOENT, lambda: os.stat(os.fsencode(mnt) + b"/a\x00b"[:2]))


def test_data_sparse_truncate_append_large(mnt: Path) -> None:
    p = mnt / "sparse"
    with open(p, "wb") as f:
        f.seek(5 << 30)  # beyond 4 GiB
        f.write(b"tail")
    assert p.stat().st_size == (5 << 30) + 4
    with open(p, "rb") as f:
        f.seek((5 << 30) - 3)
        assert f.read() == b"\0\0\0tail"
        f.seek(123456789)
        assert f.read(10) == bytes(10)
    os.truncate(p, 10)
    assert p.read_bytes() == bytes(10)
    os.truncate(p, 3 << 20)
    assert p.read_bytes() == bytes(3 << 20)
    q = mnt / "log"
    q.write_bytes(b"one\n")
    fd = os.open(q, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"two\n")
    os.close(fd)
    assert q.read_bytes() == b"one\ntwo\n"
    fd = os.open(q, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert q.read_bytes() == b""
    # Partial records across a record boundary, then shrink into a record and regrow.
    blob = os.urandom(3 << 20)
    r = mnt / "r"
    r.write_bytes(blob)
    with open(r, "r+b") as f:
        f.seek((1 << 20) - 5)
        f.write(b"X" * 10)
        os.fsync(f.fileno())
    expect = bytearray(blob)
    expect[(1 << 20) - 5 : (1 << 20) + 5] = b"X" * 10
    assert r.read_bytes() == expect
    os.truncate(r, (1 << 20) + 100)
    os.truncate(r, 2 << 20)
    assert r.read_bytes() == bytes(expect[: (1 << 20) + 100]) + bytes((1 << 20) - 100)


def test_mmap_through_page_cache(mnt: Path) -> None:
    p = mnt / "m"
    p.write_bytes(bytes(8192))
    with open(p, "r+b") as f, mmap.mmap(f.fileno(), 8192) as m:
        m[100:105] = b"hello"
        m.flush()
    assert p.read_bytes()[100:105] == b"hello"


def test_links_symlinks_and_nodes(mnt: Path) -> None:
    (mnt / "a").write_bytes(b"data")
    os.link(mnt / "a", mnt / "b")
    assert os.stat(mnt / "a").st_nlink == 2
    assert os.stat(mnt / "a").st_ino == os.stat(mnt / "b").st_ino
    expect_errno(errno.EEXIST, lambda: os.link(mnt / "a", mnt / "b"))
    os.mkdir(mnt / "dir")
    expect_errno(errno.EPERM, lambda: os.link(mnt / "dir", mnt / "dir2"))
    os.symlink(b"a\xff/../target", os.fsencode(mnt / "s"))
    assert os.readlink(os.fsencode(mnt / "s")) == b"a\xff/../target"
    assert stat.S_ISLNK(os.lstat(mnt / "s").st_mode)
    os.mkfifo(mnt / "fifo", 0o640)
    assert stat.S_ISFIFO(os.stat(mnt / "fifo").st_mode)
    os.mknod(mnt / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    st = os.stat(mnt / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    os.unlink(mnt / "a")
    assert (mnt / "b").read_bytes() == b"data"
    assert os.stat(mnt / "b").st_nlink == 1


def test_rename_semantics(mnt: Path) -> None:
    (mnt / "f1").write_bytes(b"1")
    (mnt / "f2").write_bytes(b"2")
    (mnt / "d1").mkdir()
    (mnt / "d2").mkdir()
    (mnt / "full").mkdir()
    (mnt / "full" / "x").write_bytes(b"")
    os.rename(mnt / "f1", mnt / "f2")
    assert (mnt / "f2").read_bytes() == b"1" and not (mnt / "f1").exists()
    expect_errno(errno.EISDIR, lambda: os.rename(mnt / "f2", mnt / "d1"))
    expect_errno(errno.ENOTDIR, lambda: os.rename(mnt / "d1", mnt / "f2"))
    expect_errno(errno.ENOTEMPTY, lambda: os.rename(mnt / "d1", mnt / "full"))
    expect_errno(errno.EINVAL, lambda: os.rename(mnt / "d1", mnt / "d1" / "sub"))
    os.rename(mnt / "d1", mnt / "d2")  # over an empty directory
    assert not (mnt / "d1").exists()
    assert os.stat(mnt).st_nlink == 4  # root + d2 + full
    os.rename(mnt / "d2", mnt / "full" / "moved")
    assert os.stat(mnt).st_nlink == 3 and os.stat(mnt / "full").st_nlink == 3
    (mnt / "g").write_bytes(b"g")
    expect_errno(errno.EEXIST, lambda: renameat2(mnt / "g", mnt / "f2", RENAME_NOREPLACE))
    renameat2(mnt / "g", mnt / "h", RENAME_NOREPLACE)
    renameat2(mnt / "h", mnt / "full", RENAME_EXCHANGE)
    assert (mnt / "h" / "x").exists() and (mnt / "full").read_bytes() == b"g"
    assert os.stat(mnt / "h" / "moved").st_nlink == 2
    expect_errno(errno.ENOENT, lambda: renameat2(mnt / "h", mnt / "nope", RENAME_EXCHANGE))


def test_xattrs(mnt: Path) -> None:
    p = mnt / "x"
    p.write_bytes(b"")
    os.setxattr(p, "user.a", b"1")
    os.setxattr(p, "user.b", b"\xff\x00")
    assert sorted(os.listxattr(p)) == ["user.a", "user.b"]
    assert os.getxattr(p, "user.b") == b"\xff\x00"
    expect_errno(errno.EEXIST, lambda: os.setxattr(p, "user.a", b"2", os.XATTR_CREATE))
    expect_errno(errno.ENODATA, lambda: os.setxattr(p, "user.c", b"2", os.XATTR_REPLACE))
    os.setxattr(p, "user.a", b"2", os.XATTR_REPLACE)
    assert os.getxattr(p, "user.a") == b"2"
    os.removexattr(p, "user.a")
    expect_errno(errno.ENODATA, lambda: os.getxattr(p, "user.a"))
    expect_errno(errno.ENODATA, lambda: os.removexattr(p, "user.a"))


def test_times_and_modes(mnt: Path) -> None:
    p = mnt / "t"
    p.write_bytes(b"")
    os.utime(p, ns=(1_000_000_123, 2_000_000_456))
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    os.chmod(p, 0o4751)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o4751
    os.chown(p, 1234, 5678)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert stat.S_IMODE(st.st_mode) == 0o751  # chown clears setuid


def test_readdir_stable_under_changes(mnt: Path) -> None:
    for i in range(300):
        (mnt / f"e{i:03d}").write_bytes(b"")
    seen = []
    with os.scandir(mnt) as it:
        for n, e in enumerate(it):
            seen.append(e.name)
            if n == 10:
                for j in range(0, 300, 2):
                    if f"e{j:03d}" not in seen:
                        os.unlink(mnt / f"e{j:03d}")
                (mnt / "new").write_bytes(b"")
    odd = {f"e{i:03d}" for i in range(1, 300, 2)}
    assert odd <= set(seen)
    assert len(seen) == len(set(seen))


def test_unlinked_open_file_stays_readable(mounted: MountedArray) -> None:
    mnt = mounted.mountpoint
    p = mnt / "gone"
    p.write_bytes(b"still here" * 1000)
    with open(p, "rb") as f:
        os.unlink(p)
        assert not p.exists()
        assert f.read() == b"still here" * 1000
        assert os.fstat(f.fileno()).st_nlink == 0
    mounted.remount()
    assert os.listdir(mnt) == []


@pytest.fixture
def reachable(mnt: Path) -> Iterator[Path]:
    """Let other uids walk down to the mount point (pytest's temp dirs are 0700)."""
    changed = []
    for d in mnt.parents:
        if d == Path("/"):
            break
        mode = stat.S_IMODE(os.stat(d).st_mode)
        if not mode & 0o001:
            os.chmod(d, mode | 0o001)
            changed.append((d, mode))
    yield mnt
    for d, mode in changed:
        os.chmod(d, mode)


def test_other_users_permissions_sticky_setgid(reachable: Path) -> None:
    mnt = reachable
    pub = mnt / "pub"
    pub.mkdir()
    os.chmod(pub, 0o1777)
    (pub / "roots").write_bytes(b"r")
    as_user(1001, 1001, lambda: (pub / "mine").write_bytes(b"m"))
    assert os.stat(pub / "mine").st_uid == 1001
    # Sticky: another user may not remove someone else's file.
    expect_errno(errno.EPERM, lambda: as_user(1002, 1002, lambda: os.unlink(pub / "mine")))
    as_user(1001, 1001, lambda: os.unlink(pub / "mine"))
    # Mode bits: 0o600 root file is unreadable to others.
    os.chmod(pub / "roots", 0o600)
    expect_errno(errno.EACCES, lambda: as_user(1001, 1001, (pub / "roots").read_bytes))
    priv = mnt / "priv"
    priv.mkdir(mode=0o700)
    expect_errno(errno.EACCES, lambda: as_user(1001, 1001, lambda: os.listdir(priv)))
    # chown: only root gives files away; the owner may chgrp to a group it belongs to.
    own = pub / "own"
    as_user(1001, 1001, lambda: own.write_bytes(b""))
    expect_errno(errno.EPERM, lambda: as_user(1001, 1001, lambda: os.chown(own, 1002, -1)))
    as_user(1001, 1001, lambda: os.chown(own, -1, 2000), groups=(2000,))
    assert os.stat(own).st_gid == 2000
    expect_errno(
        errno.EPERM, lambda: as_user(1001, 1001, lambda: os.chown(own, -1, 3000), groups=(2000,))
    )
    # setgid directory: new entries take its group; subdirectories inherit the bit.
    team = mnt / "team"
    team.mkdir()
    os.chown(team, 0, 2000)
    os.chmod(team, 0o2777)
    as_user(1001, 1001, lambda: (team / "doc").write_bytes(b""))
    as_user(1001, 1001, lambda: (team / "sub").mkdir())
    assert os.stat(team / "doc").st_gid == 2000
    st = os.stat(team / "sub")
    assert st.st_gid == 2000 and st.st_mode & stat.S_ISGID
    # Writing to a setuid file as a non-owner clears setuid.
    exe = pub / "exe"
    exe.write_bytes(b"#!")
    os.chmod(exe, 0o4777)
    as_user(1001, 1001, lambda: exe.open("ab").write(b"more"))
    assert not os.stat(exe).st_mode & stat.S_ISUID


def test_statfs_reports_the_array(mnt: Path) -> None:
    st = os.statvfs(mnt)
    assert st.f_blocks > 0 and 0 < st.f_bavail <= st.f_blocks
    assert st.f_namemax == 255


def test_data_survives_remount(mounted: MountedArray) -> None:
    mnt = mounted.mountpoint
    blob = os.urandom((2 << 20) + 12345)
    (mnt / "keep").write_bytes(blob)
    (mnt / "small").write_bytes(b"tiny")
    (mnt / "dir").mkdir()
    os.setxattr(mnt / "small", "user.k", b"v")
    mounted.remount()
    assert (mnt / "keep").read_bytes() == blob
    assert (mnt / "small").read_bytes() == b"tiny"
    assert os.getxattr(mnt / "small", "user.k") == b"v"
    assert sorted(os.listdir(mnt)) == ["dir", "keep", "small"]
