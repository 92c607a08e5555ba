"""Who may read snapshots through a real mount, with real uids: the share must be readable
now AND must have been readable when the snapshot was taken (the policy recorded with it);
hidden shares and others' home folders stay missing names inside `#snapshot`; a snapshot
with no recorded policy (taken offline) is judged by the live rule alone."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuse_policy_util import PolicyMount, as_user, started

ALICE, BOB, CAROL, EVE = 2001, 2002, 2003, 2004
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with started(tmp_path, users={"alice": ALICE, "bob": BOB, "carol": CAROL}) as m:
        yield m


def take(nas: PolicyMount, name: str) -> dict[str, Any]:
    return dict(nas.call("snapshot.create", {"name": name}))


def share(nas: PolicyMount, name: str, acl: dict[str, str], *, hidden: bool = False) -> Path:
    nas.admin.share_create(name, hidden=hidden)
    for user, access in acl.items():
        nas.admin.share_acl(name, "user", user, access)
    (nas.mnt / name / "f").write_bytes(b"content of " + name.encode())
    return nas.mnt / name


def read(path: Path) -> bytes:
    return path.read_bytes()


def listdir(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_a_user_who_lost_access_cannot_read_old_snapshots(nas: PolicyMount) -> None:
    team = share(nas, "team", {"alice": "rw", "bob": "rw"})
    vault = share(nas, "vault", {"alice": "rw", "bob": "ro"}, hidden=True)
    take(nas, "s")
    for d in (team, vault):
        assert as_user(BOB, read, d / "#snapshot" / "s" / "f") == b"content of " + d.name.encode()
    nas.admin.share_acl("team", "user", "bob", "remove")
    nas.admin.share_acl("vault", "user", "bob", "none")
    assert as_user(BOB, read, team / "#snapshot" / "s" / "f") == errno.EACCES
    assert as_user(BOB, listdir, team / "#snapshot") == errno.EACCES
    for path in (vault / "#snapshot" / "s" / "f", vault / "#snapshot", vault / "#snapshot" / "s"):
        assert as_user(BOB, os.stat, path) == errno.ENOENT
    # Alice kept her access: the snapshot is unchanged for her.
    assert as_user(ALICE, read, vault / "#snapshot" / "s" / "f") == b"content of vault"
    assert as_user(ALICE, read, team / "#snapshot" / "s" / "f") == b"content of team"


def test_a_user_granted_access_later_cannot_read_earlier_snapshots(nas: PolicyMount) -> None:
    team = share(nas, "team", {"alice": "rw"})
    take(nas, "before")
    nas.admin.share_acl("team", "user", "carol", "ro")
    (team / "f").write_bytes(b"changed")
    take(nas, "after")
    snaps = team / "#snapshot"
    # She learns that the snapshot exists (the share was visible to her then), not its content.
    assert as_user(CAROL, listdir, snaps) == ["after", "before"]
    assert as_user(CAROL, lambda: os.stat(snaps / "before").st_mode & 0o7777) == 0
    assert as_user(CAROL, read, snaps / "before" / "f") == errno.EACCES
    assert as_user(CAROL, listdir, snaps / "before") == errno.EACCES
    assert as_user(CAROL, read, snaps / "after" / "f") == b"changed"
    assert as_user(CAROL, read, team / "f") == b"changed"
    # The administrator reads everything; the row says it was beyond the ACL.
    start = nas.last_access_id()
    assert (snaps / "before" / "f").read_bytes() == b"content of team"
    rows = [r for r in nas.access_rows(after_id=start, expect=1) if r["uid"] == 0]
    assert [(r["operation"], r["path"], r["admin"]) for r in rows] == [
        ("open-read", "/#snapshot/before/f", True)]


def test_a_share_hidden_then_stays_hidden_in_its_snapshot(nas: PolicyMount) -> None:
    lab = share(nas, "lab", {"alice": "rw"}, hidden=True)
    take(nas, "hidden-then")
    nas.admin.share_edit("lab", hidden=False)
    nas.admin.share_acl("lab", "user", "carol", "rw")
    take(nas, "open-now")
    snaps = lab / "#snapshot"
    os.stat(snaps / "hidden-then" / "f")  # the administrator's walk is cached...
    assert as_user(CAROL, listdir, snaps) == ["open-now"]  # ...and not seen by carol

    def probe(name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, fn in {
            "stat": lambda: os.stat(snaps / name), "list": lambda: os.listdir(snaps / name),
            "child": lambda: os.stat(snaps / name / "f"),
            "open": lambda: open(snaps / name / "f", "rb").close(),
            "xattr": lambda: os.getxattr(snaps / name, "user.x"),
            "mkdir": lambda: os.mkdir(snaps / name),
        }.items():
            try:
                out[label] = fn()
            except OSError as exc:
                out[label] = errno.errorcode.get(exc.errno or 0)
        return out

    assert as_user(CAROL, probe, "hidden-then") == as_user(CAROL, probe, "no-such-snapshot")
    assert as_user(CAROL, probe, "hidden-then")["child"] == "ENOENT"
    assert as_user(ALICE, read, snaps / "hidden-then" / "f") == b"content of lab"


def test_a_uid_that_belonged_to_someone_else_then_gets_nothing(nas: PolicyMount) -> None:
    team = share(nas, "team", {"bob": "rw"})
    take(nas, "bobs")
    nas.admin.user_del("bob")
    nas.admin.user_add("eve", BOB)  # the same uid, another person
    nas.admin.share_acl("team", "user", "eve", "rw")
    assert as_user(BOB, read, team / "f") == b"content of team"
    assert as_user(BOB, read, team / "#snapshot" / "bobs" / "f") == errno.EACCES


def hidden_probes(mnt: Path, name: str) -> dict[str, Callable[[], Any]]:
    base = mnt / name / "#snapshot"
    return {
        "folder": lambda: os.stat(base), "list": lambda: os.listdir(base),
        "snapshot": lambda: os.stat(base / "s"), "file": lambda: os.stat(base / "s" / "f"),
        "open": lambda: open(base / "s" / "f", "rb").close(),
        "list snapshot": lambda: os.listdir(base / "s"),
        "xattr": lambda: os.listxattr(base / "s"),
        "create": lambda: open(base / "s" / "new", "xb").close(),
    }


def observe(mnt: Path, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, fn in hidden_probes(mnt, name).items():
        try:
            fn()
            out[label] = "ok"
        except OSError as exc:
            out[label] = errno.errorcode.get(exc.errno or 0)
    return out


def test_probes_into_a_hidden_share_snapshot_equal_a_missing_name(nas: PolicyMount) -> None:
    share(nas, "secret", {"bob": "rw"}, hidden=True)
    take(nas, "s")
    assert observe(nas.mnt, "secret") == dict.fromkeys(hidden_probes(nas.mnt, "x"), "ok") | {
        "create": "EACCES"}  # the administrator, who caches every entry on the way
    seen = as_user(ALICE, observe, nas.mnt, "secret")
    assert seen == as_user(ALICE, observe, nas.mnt, "nothing-here")
    assert set(seen.values()) == {"ENOENT"}
    assert as_user(BOB, observe, nas.mnt, "secret")["file"] == "ok"
    assert "secret" not in as_user(ALICE, os.listdir, nas.mnt)


def test_homes_isolation_inside_snapshots(nas: PolicyMount) -> None:
    nas.admin.share_create("homes", homes=True)
    nas.admin.share_acl("homes", "everyone", None, "rw")
    h = nas.mnt / "homes"
    for uid, name in ((ALICE, "alice"), (BOB, "bob")):
        assert as_user(uid, lambda n=name: (h / n / "diary").write_bytes(n.encode())) == len(
            name)
    take(nas, "s")
    snap = h / "#snapshot" / "s"
    assert listdir(snap) == ["alice", "bob"]  # the administrator sees all
    assert (snap / "bob" / "diary").read_bytes() == b"bob"
    assert as_user(ALICE, listdir, snap) == ["alice"]
    assert as_user(BOB, listdir, snap) == ["bob"]
    assert as_user(ALICE, read, snap / "alice" / "diary") == b"alice"
    for path in (snap / "bob", snap / "bob" / "diary", snap / "nobody"):
        assert as_user(ALICE, os.stat, path) == errno.ENOENT
    assert as_user(ALICE, read, snap / "bob" / "diary") == errno.ENOENT
    assert as_user(ALICE, listdir, snap / "bob") == errno.ENOENT
    # A user who has a home now but had none then finds nothing for them.
    assert as_user(CAROL, listdir, h) == ["#snapshot", "#trash", "carol"]
    assert as_user(CAROL, listdir, snap) == []


def cli(nas: PolicyMount, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("NASFS_SOCKET", None)
    env["NASFS_RUN_DIR"] = str(nas.run_dir)
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args], env=env,
                          capture_output=True, text=True, cwd=REPO)


def test_a_snapshot_without_recorded_policy_follows_the_live_rule(nas: PolicyMount) -> None:
    team = share(nas, "team", {"alice": "rw"})
    nas.stop()
    out = cli(nas, "snapshot", "create", "--name", "offline", "--array", *map(str, nas.members))
    assert out.returncode == 0, out.stderr
    nas.start()
    assert as_user(ALICE, read, team / "#snapshot" / "offline" / "f") == b"content of team"
    assert as_user(BOB, read, team / "#snapshot" / "offline" / "f") == errno.EACCES
    nas.admin.share_acl("team", "user", "bob", "ro")
    assert as_user(BOB, read, team / "#snapshot" / "offline" / "f") == b"content of team"
