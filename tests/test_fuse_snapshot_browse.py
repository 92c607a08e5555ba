"""Browsing snapshots through a real mount (`SHARE/#snapshot/<name>/...`): content byte-exact
after the live file changed and after it was deleted, attributes, links and xattrs of that
moment, stable and unique inode numbers, a deleted snapshot vanishing, every write-type
request refused with EACCES, reads in the access log, restore by `cp -a`."""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nasfs.policy.gate.inodes import (
    MAX_REAL_INO,
    MAX_SNAPSHOT_ID,
    SNAPSHOT_NODES,
    InodeSpaceExhausted,
    decode,
    encode,
)
from tests.fuse_policy_util import EVERYONE_RW, PolicyMount, as_user, started

ALICE = 2001
BIG = bytes(range(256)) * (3 * 4096 + 17)  # ~3 MiB: spans several records
OLD, NEW = b"the old text\n", b"the new, longer text\n"


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with started(tmp_path, users={"alice": ALICE}, shares={"docs": [EVERYONE_RW]}) as m:
        yield m


def take(nas: PolicyMount, name: str | None = None) -> dict[str, Any]:
    return dict(nas.call("snapshot.create", {} if name is None else {"name": name}))


def put(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def listdir(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def make_tree(d: Path) -> None:
    os.mkdir(d / "sub")
    put(d / "a.txt", OLD)
    put(d / "sub" / "big.bin", BIG)
    os.symlink("a.txt", d / "link")
    os.setxattr(d / "a.txt", "user.tag", b"first")
    os.chmod(d / "sub" / "big.bin", 0o640)
    os.utime(d / "a.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))


def test_content_after_change_and_delete(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    assert as_user(ALICE, make_tree, d) is None
    then_a, then_big = os.stat(d / "a.txt"), os.stat(d / "sub" / "big.bin")
    first = take(nas, "first")

    def change() -> None:
        put(d / "a.txt", NEW)
        os.setxattr(d / "a.txt", "user.tag", b"second")
        os.unlink(d / "sub" / "big.bin")
        os.unlink(d / "link")

    assert as_user(ALICE, change) is None
    second = take(nas)
    assert second["name"].startswith("@GMT-")
    assert listdir(d) == ["#snapshot", "#trash", "a.txt", "sub"]
    assert listdir(d / "#snapshot") == sorted(["first", second["name"]])

    s1, s2 = d / "#snapshot" / "first", d / "#snapshot" / second["name"]

    def read_back() -> dict[str, Any]:
        with open(s1 / "sub" / "big.bin", "rb") as f, \
                mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
            mapped = bytes(m[:])
        return {
            "s1 listing": listdir(s1), "s2 listing": listdir(s2),
            "s1 sub": listdir(s1 / "sub"), "s2 sub": listdir(s2 / "sub"),
            "s1 a": (s1 / "a.txt").read_bytes(), "s2 a": (s2 / "a.txt").read_bytes(),
            "live a": (d / "a.txt").read_bytes(),
            "big": (s1 / "sub" / "big.bin").read_bytes() == BIG, "mapped": mapped == BIG,
            "link": os.readlink(s1 / "link"), "via link": (s1 / "link").read_bytes(),
            "tag1": os.getxattr(s1 / "a.txt", "user.tag"),
            "tag2": os.getxattr(s2 / "a.txt", "user.tag"),
            "xattrs": os.listxattr(s1 / "a.txt"),
        }

    assert as_user(ALICE, read_back) == {
        "s1 listing": ["a.txt", "link", "sub"], "s2 listing": ["a.txt", "sub"],
        "s1 sub": ["big.bin"], "s2 sub": [],
        "s1 a": OLD, "s2 a": NEW, "live a": NEW, "big": True, "mapped": True,
        "link": "a.txt", "via link": OLD, "tag1": b"first", "tag2": b"second",
        "xattrs": ["user.tag"],
    }
    # Attributes are those of that moment, inode numbers the snapshot's own.
    a1, big1 = os.stat(s1 / "a.txt"), os.stat(s1 / "sub" / "big.bin")
    for snap, then in ((a1, then_a), (big1, then_big)):
        assert (snap.st_mode, snap.st_uid, snap.st_gid, snap.st_size, snap.st_mtime_ns,
                snap.st_atime_ns) == (then.st_mode, then.st_uid, then.st_gid, then.st_size,
                                      then.st_mtime_ns, then.st_atime_ns)
    assert a1.st_mtime_ns == 1_600_000_000_987_654_321
    assert decode(a1.st_ino) == (first["id"], then_a.st_ino)
    a2 = os.stat(s2 / "a.txt")
    assert decode(a2.st_ino) == (second["id"], then_a.st_ino)
    inos = [a1.st_ino, a2.st_ino, os.stat(d / "a.txt").st_ino, big1.st_ino,
            os.stat(s1).st_ino, os.stat(s2).st_ino, os.stat(d / "#snapshot").st_ino]
    assert len(set(inos)) == len(inos)
    assert os.stat(s1 / "a.txt").st_ino == a1.st_ino  # stable across calls
    assert as_user(ALICE, lambda: os.stat(s1 / "a.txt").st_ino) == a1.st_ino
    assert os.stat(d / "#snapshot").st_mode == 0o40555

    # A deleted snapshot vanishes from the listing and from every path through it.
    nas.call("snapshot.delete", {"id": first["id"]})
    assert listdir(d / "#snapshot") == [second["name"]]
    for who in (0, ALICE):
        assert as_user(who, os.stat, s1 / "a.txt") == errno.ENOENT
        assert as_user(who, os.listdir, s1) == errno.ENOENT
    assert as_user(ALICE, lambda: (s2 / "a.txt").read_bytes()) == NEW


def test_snapshots_appear_and_vanish_while_a_shell_sits_inside(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    put(d / "f", OLD)
    assert listdir(d / "#snapshot") == []
    snap = take(nas, "s")
    assert listdir(d / "#snapshot") == ["s"]  # a snapshot taken later shows up at once
    assert (d / "#snapshot" / "s" / "f").read_bytes() == OLD
    fd = os.open(d / "#snapshot" / "s", os.O_RDONLY | os.O_DIRECTORY)
    try:
        nas.call("snapshot.delete", {"id": snap["id"]})
        assert listdir(d / "#snapshot") == []
        with pytest.raises(FileNotFoundError):
            os.stat("f", dir_fd=fd)  # the kernel dropped what it cached below it
        with pytest.raises(FileNotFoundError):
            os.open("g", os.O_RDONLY, dir_fd=fd)
    finally:
        os.close(fd)


def attempts(d: Path, snap: Path) -> dict[str, Callable[[], Any]]:
    f, sub = snap / "a.txt", snap / "sub"

    def write_open() -> None:
        with open(f, "r+b"):
            pass

    def trunc_open() -> None:
        with open(f, "wb"):
            pass

    def create() -> None:
        with open(snap / "new", "xb"):
            pass

    return {
        "open for write": write_open, "open with O_TRUNC": trunc_open,
        "truncate": lambda: os.truncate(f, 0), "chmod": lambda: os.chmod(f, 0o600),
        "chown": lambda: os.chown(f, ALICE, ALICE), "utime": lambda: os.utime(f, (1, 1)),
        "setxattr": lambda: os.setxattr(f, "user.tag", b"x"),
        "removexattr": lambda: os.removexattr(f, "user.tag"),
        "create": create, "mkdir": lambda: os.mkdir(snap / "dir"),
        "mknod": lambda: os.mkfifo(snap / "fifo"),
        "symlink": lambda: os.symlink("a.txt", snap / "sl"),
        "link inside": lambda: os.link(f, snap / "hard"),
        "link out": lambda: os.link(f, d / "hard"),
        "unlink": lambda: os.unlink(f), "rmdir": lambda: os.rmdir(sub),
        "rename inside": lambda: os.rename(f, snap / "b.txt"),
        "rename out": lambda: os.rename(f, d / "out.txt"),
        "rename in": lambda: os.rename(d / "live.txt", snap / "live.txt"),
        "rename over": lambda: os.rename(d / "live.txt", f),
        "rmdir snapshot": lambda: os.rmdir(snap),
        "rename snapshot": lambda: os.rename(snap, snap.parent / "other"),
        "mkdir in #snapshot": lambda: os.mkdir(snap.parent / "mine"),
        "unlink #snapshot": lambda: os.rmdir(snap.parent),
    }


def try_all(d: Path, snap: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, fn in attempts(d, snap).items():
        try:
            fn()
            out[label] = "done"
        except OSError as exc:
            out[label] = errno.errorcode.get(exc.errno or 0)
    return out


def test_every_write_inside_is_eacces(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"

    def setup() -> None:
        os.mkdir(d / "sub")
        put(d / "a.txt", OLD)
        os.setxattr(d / "a.txt", "user.tag", b"kept")
        put(d / "live.txt", b"live")

    assert as_user(ALICE, setup) is None
    take(nas, "s")
    snap = d / "#snapshot" / "s"
    labels = list(attempts(d, snap))
    # The owner of the files (the kernel lets her try) and the administrator alike.
    assert as_user(ALICE, try_all, d, snap) == dict.fromkeys(labels, "EACCES")
    assert try_all(d, snap) == dict.fromkeys(labels, "EACCES")
    assert as_user(ALICE, lambda: (snap / "a.txt").read_bytes()) == OLD
    assert os.getxattr(snap / "a.txt", "user.tag") == b"kept"
    assert listdir(snap) == ["a.txt", "live.txt", "sub"]
    assert listdir(d) == ["#snapshot", "#trash", "a.txt", "live.txt", "sub"]
    assert (d / "live.txt").read_bytes() == b"live"
    assert (d / "#snapshot" / "s").is_dir()


def test_reads_are_logged(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    assert as_user(ALICE, make_tree, d) is None
    take(nas, "s")
    start = nas.last_access_id()

    def session() -> int:
        data = (d / "#snapshot" / "s" / "sub" / "big.bin").read_bytes()
        with contextlib.suppress(PermissionError):
            open(d / "#snapshot" / "s" / "a.txt", "r+b").close()
        return len(data)

    assert as_user(ALICE, session) == len(BIG)
    rows = [r for r in nas.access_rows(after_id=start, expect=2) if r["uid"] == ALICE]
    assert [(r["operation"], r["share"], r["path"], r["result"], r["bytes"], r["admin"])
            for r in rows] == [
        ("open-read", "docs", "/#snapshot/s/sub/big.bin", "OK", len(BIG), False),
        ("open-write", "docs", "/#snapshot/s/a.txt", "EACCES", None, False),
    ]
    assert rows[0]["user"] == "alice" and rows[0]["process"] == "python"
    assert nas.admin.log_verify("access").ok


def tree(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            s = os.lstat(p)
            rel = str(p.relative_to(root))
            body = (os.readlink(p) if os.path.islink(p) else p.read_bytes()
                    if p.is_file() else None)
            xattrs = {} if os.path.islink(p) else {
                n: os.getxattr(p, n) for n in os.listxattr(p)}
            out[rel] = (s.st_mode, s.st_uid, s.st_size, s.st_mtime_ns, body, xattrs)
    return out


def test_restore_by_copying_out_with_cp(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"

    def setup() -> None:
        make_tree(d)
        os.mkdir(d / "sub" / "deep")
        put(d / "sub" / "deep" / "note", b"deep note")
        os.setxattr(d / "sub" / "deep" / "note", "user.k", b"v")
        os.chmod(d / "sub" / "deep", 0o750)

    assert as_user(ALICE, setup) is None
    before = as_user(ALICE, tree, d / "sub")
    take(nas, "s")
    assert as_user(ALICE, subprocess.run, ["rm", "-r", str(d / "sub")]).returncode == 0
    assert not (d / "sub").exists()

    def restore() -> int:
        return subprocess.run(["cp", "-a", str(d / "#snapshot" / "s" / "sub"), str(d / "sub")],
                              capture_output=True).returncode

    assert as_user(ALICE, restore) == 0
    assert as_user(ALICE, tree, d / "sub") == before
    assert as_user(ALICE, tree, d / "#snapshot" / "s" / "sub") == before


def test_inode_encoding_and_its_limits() -> None:
    ino = encode(5, 1234)
    assert ino == SNAPSHOT_NODES | 5 << 39 | 1234
    assert decode(ino) == (5, 1234)
    assert decode(encode(MAX_SNAPSHOT_ID, MAX_REAL_INO)) == (MAX_SNAPSHOT_ID, MAX_REAL_INO)
    assert encode(MAX_SNAPSHOT_ID, MAX_REAL_INO) < 1 << 64
    for sid, real in ((MAX_SNAPSHOT_ID + 1, 2), (1, MAX_REAL_INO + 1), (0, 2), (1, 0)):
        with pytest.raises(InodeSpaceExhausted) as e:
            encode(sid, real)
        assert e.value.errno == errno.EOVERFLOW
        assert "does not fit" in str(e.value)
