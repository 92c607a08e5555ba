"""Adversarial probes of hidden ("shadow") places through a real mount, as real uids, each
made right after a user with access and the administrator warmed the kernel's caches on the
same paths (entries, attributes, readdirplus entries, negative entries).

For a caller without access, every answer about a hidden share, a name inside it, its
`#trash` and `#snapshot`, and another user's home folder must be the answer for a name that
does not exist: the same errno, the same listing, the same xattrs. Access changes act at
once: a grant shows the share, a revoke (an ACL entry, a group membership) hides it again,
also from a process that kept its working directory or a descriptor inside it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuse_policy_util import EVERYONE_RW, PolicyMount, started
from tests.user_process import UserProcess

ALICE, BOB, CAROL = 2101, 2102, 2103
TEAM = 2150
HOMES = ["#snapshot", "#trash"]  # the virtual folders of every share folder


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with started(tmp_path, users={"alice": ALICE, "bob": BOB, "carol": CAROL},
                 shares={"public": [EVERYONE_RW]}) as m:
        yield m


def fill_secret(nas: PolicyMount, name: str = "secret") -> Path:
    """A hidden share only alice may use, with a folder, a file and an xattr, a trash item
    and a snapshot."""
    nas.admin.share_create(name, hidden=True)
    nas.admin.share_acl(name, "user", "alice", "rw")
    top = nas.mnt / name
    (top / "d").mkdir()
    (top / "d" / "f").write_bytes(b"secret bytes")
    os.setxattr(top / "d" / "f", "user.x", b"1")
    (top / "gone").write_bytes(b"to the trash")
    os.unlink(top / "gone")
    nas.call("snapshot.create", {"name": "snap1"})
    return top


def warm(proc: UserProcess, top: Path, *, snapshot: bool = True) -> None:
    """Touch everything below `top` the ways the probes will (fills the kernel's caches).
    `snapshot`: the caller could read the share when snap1 was taken."""
    share_folder = top.parent.name != "homes"  # home folders have no #trash of their own
    sources = [
        f"[os.stat(os.path.join(r, n)) for r, ds, fs in os.walk({str(top)!r}) for n in ds + fs]",
        f"os.listdir({str(top / 'd')!r})",
        f"os.getxattr({str(top / 'd' / 'f')!r}, 'user.x')",
        f"os.listdir({str(top / '#trash')!r})",
        f"os.stat({str(top / '#snapshot' / 'snap1' / 'd' / 'f')!r})",
        f"open({str(top / 'd' / 'f')!r}, 'rb').read()",
    ]
    if not snapshot or not share_folder:
        sources.remove(f"os.stat({str(top / '#snapshot' / 'snap1' / 'd' / 'f')!r})")
    if not share_folder:
        sources.remove(f"os.listdir({str(top / '#trash')!r})")
    for source in sources:
        value = proc.run(source)
        assert not (isinstance(value, str) and value.startswith("E")), (source, value)


def probe_sources(mnt: Path, base: str, name: str) -> dict[str, str]:
    """Python expressions probing `base/name` (relative to the mount) every way an attacker
    would; their answers for a hidden name and for an absent one are compared."""
    p = str(mnt / base / name) if base else str(mnt / name)
    pub = str(mnt / "public")
    up = str(mnt / "public" / ".." / base / name) if base else str(mnt / "public" / ".." / name)
    tag = f"{base}-{name}".replace("/", "_")
    run = "__import__('subprocess').run"
    return {
        "stat": f"os.stat({p!r}).st_mode",
        "lstat": f"os.lstat({p!r}).st_mode",
        "stat child": f"os.stat({p + '/d'!r}).st_mode",
        "stat grandchild": f"os.stat({p + '/d/f'!r}).st_size",
        "stat via ..": f"os.stat({up + '/d/f'!r}).st_size",
        "stat inner ..": f"os.stat({p + '/d/../d/f'!r}).st_size",
        "statx (coreutils stat)": f"{run}(['stat', '-c', '%s', {p + '/d/f'!r}], "
                                  "capture_output=True).returncode",
        "access F_OK": f"os.access({p!r}, os.F_OK)",
        "access child R_OK": f"os.access({p + '/d/f'!r}, os.R_OK)",
        "open dir": f"os.close(os.open({p!r}, os.O_RDONLY | os.O_DIRECTORY))",
        "open O_PATH": f"os.close(os.open({p!r}, os.O_PATH))",
        "open child O_PATH": f"os.close(os.open({p + '/d/f'!r}, os.O_PATH))",
        "open child": f"open({p + '/d/f'!r}, 'rb').read()",
        "openat from root fd": f"os.stat('{name}/d/f' if not {base!r} else '{base}/{name}/d/f', "
                               f"dir_fd=os.open({str(mnt)!r}, os.O_PATH)).st_size",
        "listdir": f"sorted(os.listdir({p!r}))",
        "listdir child": f"sorted(os.listdir({p + '/d'!r}))",
        "chdir": f"cd({p + '/d'!r})",
        "realpath": f"os.path.realpath({p + '/d/f'!r}, strict=True).replace({name!r}, 'N')",
        "getxattr": f"os.getxattr({p + '/d/f'!r}, 'user.x')",
        "getxattr top": f"os.getxattr({p!r}, 'user.x')",
        "listxattr": f"os.listxattr({p!r})",
        "listxattr child": f"os.listxattr({p + '/d/f'!r})",
        "listxattr nofollow": f"os.listxattr({p + '/d/f'!r}, follow_symlinks=False)",
        "link out": f"os.link({p + '/d/f'!r}, {pub + '/stolen-' + tag!r})",
        "link in": f"os.link({pub + '/mine'!r}, {p + '/d/planted'!r})",
        "rename out": f"os.rename({p + '/d/f'!r}, {pub + '/stolen-' + tag!r})",
        "rename in": f"os.rename({pub + '/mine'!r}, {p + '/d/planted'!r})",
        "symlink then follow": f"(os.symlink({p + '/d/f'!r}, {pub + '/ln-' + tag!r}), "
                               f"open({pub + '/ln-' + tag!r}, 'rb').read())",
        "mkdir": f"os.mkdir({p!r})",
        "mkdir inside": f"os.mkdir({p + '/d/new'!r})",
        "create inside": f"open({p + '/d/new'!r}, 'xb').close()",
        "unlink inside": f"os.unlink({p + '/d/f'!r})",
        "setxattr inside": f"os.setxattr({p + '/d/f'!r}, 'user.y', b'1')",
        "trash stat": f"os.stat({p + '/#trash'!r}).st_mode",
        "trash list": f"sorted(os.listdir({p + '/#trash'!r}))",
        "snapshot stat": f"os.stat({p + '/#snapshot'!r}).st_mode",
        "snapshot list": f"sorted(os.listdir({p + '/#snapshot'!r}))",
        "snapshot child": f"os.stat({p + '/#snapshot/snap1/d/f'!r}).st_size",
        "snapshot read": f"open({p + '/#snapshot/snap1/d/f'!r}, 'rb').read()",
    }


def observe(proc: UserProcess, mnt: Path, base: str, name: str) -> dict[str, Any]:
    out = {label: proc.run(source) for label, source in probe_sources(mnt, base, name).items()}
    proc.run("cd('/')")
    return out


def ls_la(proc: UserProcess, path: Path) -> list[tuple[str, str]]:
    """(name, mode and link count) of every line of `ls -la` (times move by themselves)."""
    text = proc.run(f"__import__('subprocess').run(['ls', '-la', {str(path)!r}], "
                    "capture_output=True, text=True).stdout")
    rows = [line.split() for line in text.splitlines()[1:]]
    return sorted((r[-1], f"{r[0]} {r[1]}") for r in rows)


def assert_looks_absent(proc: UserProcess, mnt: Path, base: str, name: str) -> None:
    hidden = observe(proc, mnt, base, name)
    absent = observe(proc, mnt, base, "no-such-name")
    assert hidden == absent
    assert hidden["stat"] == "ENOENT"


def test_probes_after_a_user_with_access_warmed_the_caches(nas: PolicyMount) -> None:
    (nas.mnt / "public" / "mine").write_bytes(b"mine")
    os.chmod(nas.mnt / "public" / "mine", 0o666)
    with UserProcess(BOB) as bob:
        root_before = ls_la(bob, nas.mnt)
        top = fill_secret(nas)
        with UserProcess(0) as root, UserProcess(ALICE) as alice:
            warm(root, top)
            warm(alice, top)
            # Bob right after each of them, in a new process and in one that was there before.
            assert_looks_absent(bob, nas.mnt, "", "secret")
            with UserProcess(BOB) as fresh:
                assert_looks_absent(fresh, nas.mnt, "", "secret")
            warm(alice, top)
            assert_looks_absent(bob, nas.mnt, "", "secret")
        assert ls_la(bob, nas.mnt) == root_before
        assert "secret" not in bob.run(f"os.listdir({str(nas.mnt)!r})")
        assert (nas.mnt / "public" / "mine").read_bytes() == b"mine"
        assert sorted(os.listdir(top / "d")) == ["f"]
    with UserProcess(2999) as guest:  # a uid that is no NAS user
        assert_looks_absent(guest, nas.mnt, "", "secret")


def test_other_users_home_folders_look_absent(nas: PolicyMount) -> None:
    (nas.mnt / "public" / "mine").write_bytes(b"mine")
    os.chmod(nas.mnt / "public" / "mine", 0o666)
    nas.admin.share_create("homes", homes=True)
    nas.admin.share_acl("homes", "everyone", None, "rw")
    with UserProcess(ALICE) as alice, UserProcess(BOB) as bob:
        assert alice.run(f"sorted(os.listdir({str(nas.mnt / 'homes')!r}))") == [*HOMES, "alice"]
        assert bob.run(f"sorted(os.listdir({str(nas.mnt / 'homes')!r}))") == [*HOMES, "bob"]
        home = nas.mnt / "homes" / "alice"
        assert alice.run(f"os.mkdir({str(home / 'd')!r})") is None
        assert alice.run(f"open({str(home / 'd' / 'f')!r}, 'wb').write(b'hers')") == 4
        assert alice.run(f"os.setxattr({str(home / 'd' / 'f')!r}, 'user.x', b'1')") is None
        nas.call("snapshot.create", {"name": "snap1"})
        with UserProcess(0) as root:
            warm(root, home)
        warm(alice, home)
        assert_looks_absent(bob, nas.mnt, "homes", "alice")
        assert bob.run(f"sorted(os.listdir({str(nas.mnt / 'homes')!r}))") == [*HOMES, "bob"]


def test_grant_shows_and_revoke_hides_at_once_even_what_the_kernel_cached(
        nas: PolicyMount) -> None:
    top = fill_secret(nas)
    f = str(top / "d" / "f")
    with UserProcess(BOB) as bob:
        assert bob.run(f"os.stat({f!r}).st_size") == "ENOENT"
        nas.admin.share_acl("secret", "user", "bob", "ro")
        assert bob.run(f"os.stat({f!r}).st_size") == 12
        assert "secret" in bob.run(f"os.listdir({str(nas.mnt)!r})")
        # Bob fills the kernel's caches inside the share, and keeps a way in.
        warm(bob, top, snapshot=False)
        assert bob.run(f"cd({str(top / 'd')!r})") == "ok"
        assert bob.run(f"fds.__setitem__('d', os.open({str(top / 'd')!r}, os.O_RDONLY))") is None
        assert bob.run(f"fds.__setitem__('f', os.open({f!r}, os.O_RDONLY))") is None
        assert bob.run("os.stat('f').st_size") == 12
        nas.admin.share_acl("secret", "user", "bob", "remove")
        assert_looks_absent(bob, nas.mnt, "", "secret")
        # The working directory and the folder descriptor lead nowhere any more: what the
        # kernel cached below them was dropped with the revoke.
        assert bob.run(f"cd({str(top / 'd')!r})") == "ENOENT"
        with UserProcess(BOB) as other:
            assert other.run(f"os.stat({f!r}).st_size") == "ENOENT"
        assert bob.run("os.stat('f', dir_fd=fds['d']).st_size") == "ENOENT"
        assert bob.run("sorted(os.listdir(fds['d']))") == "ENOENT"
        assert bob.run("os.listxattr(fds['f'])") == "ENOENT"
        # Even a file opened while access was granted: the kernel refreshes the attributes
        # before a read (auto_inval_data), and that GETATTR is judged as bob.
        assert bob.run("os.pread(fds['f'], 6, 0)") == "ENOENT"


def test_revoke_while_the_working_directory_is_inside(nas: PolicyMount) -> None:
    top = fill_secret(nas)
    nas.admin.share_acl("secret", "user", "bob", "ro")
    with UserProcess(BOB) as bob:
        warm(bob, top, snapshot=False)
        assert bob.run(f"cd({str(top / 'd')!r})") == "ok"
        assert bob.run("os.stat('f').st_size") == 12
        nas.admin.share_acl("secret", "user", "bob", "remove")
        for source in ("os.stat('f').st_size", "os.lstat('f').st_size", "os.access('f', os.F_OK)",
                       "os.listdir('.')", "open('f', 'rb').read()", "os.listxattr('f')",
                       "os.getxattr('f', 'user.x')", "os.stat('..').st_mode",
                       "os.listdir('..')", "os.stat('../#trash').st_mode",
                       "os.path.realpath('f', strict=True)"):
            got = bob.run(source)
            assert got in ("ENOENT", False), (source, got)


def test_leaving_a_group_hides_the_share_at_once(nas: PolicyMount) -> None:
    top = fill_secret(nas)
    nas.admin.group_add("team", TEAM)
    nas.admin.group_adduser("team", "bob")
    nas.admin.share_acl("secret", "group", "team", "ro")
    with UserProcess(BOB) as bob:
        warm(bob, top, snapshot=False)
        assert bob.run(f"cd({str(top / 'd')!r})") == "ok"
        nas.admin.group_deluser("team", "bob")
        assert bob.run("os.stat('f').st_size") == "ENOENT"
        assert_looks_absent(bob, nas.mnt, "", "secret")
        nas.admin.group_adduser("team", "bob")
        assert bob.run(f"os.stat({str(top / 'd' / 'f')!r}).st_size") == 12


def test_a_share_switched_hidden_under_open_descriptors(nas: PolicyMount) -> None:
    """Hiding a share changes nothing for users with access (their working directory and
    descriptors go on working); users without access lose even its name at once."""
    nas.admin.share_create("team")
    nas.admin.share_acl("team", "user", "bob", "rw")
    (nas.mnt / "team" / "f").write_bytes(b"team")
    os.chmod(nas.mnt / "team" / "f", 0o666)
    with UserProcess(BOB) as bob, UserProcess(CAROL) as carol:
        assert bob.run(f"cd({str(nas.mnt / 'team')!r})") == "ok"
        assert bob.run(f"fds.__setitem__('f', os.open({str(nas.mnt / 'team' / 'f')!r}, "
                       "os.O_RDWR))") is None
        assert "team" in carol.run(f"os.listdir({str(nas.mnt)!r})")
        assert carol.run(f"os.stat({str(nas.mnt / 'team')!r}).st_mode & 0o777") == 0
        nas.admin.share_edit("team", hidden=True)
        assert bob.run("os.stat('f').st_size") == 4
        assert bob.run("os.pwrite(fds['f'], b'TEAM', 0)") == 4
        assert bob.run("sorted(os.listdir('.'))") == ["#snapshot", "#trash", "f"]
        assert "team" not in carol.run(f"os.listdir({str(nas.mnt)!r})")
        assert carol.run(f"os.stat({str(nas.mnt / 'team')!r}).st_mode") == "ENOENT"
        nas.admin.share_acl("team", "user", "bob", "remove")
        assert bob.run("os.stat('f').st_size") == "ENOENT"
        # A descriptor opened for writing while allowed keeps writing (POSIX: permissions
        # are checked at the open); it cannot reach anything else.
        assert bob.run("os.pwrite(fds['f'], b'team', 0)") == 4
    assert (nas.mnt / "team" / "f").read_bytes() == b"team"


def test_revoke_reaches_a_working_directory_inside_a_snapshot(nas: PolicyMount) -> None:
    """Snapshot content is cached five minutes (it never changes); a revoke still ends what
    a process inside a snapshot of the share may see."""
    nas.admin.share_create("secret", hidden=True)
    nas.admin.share_acl("secret", "user", "bob", "ro")
    (nas.mnt / "secret" / "d").mkdir()
    (nas.mnt / "secret" / "d" / "f").write_bytes(b"then")
    nas.call("snapshot.create", {"name": "then"})
    inside = nas.mnt / "secret" / "#snapshot" / "then" / "d"
    with UserProcess(BOB) as bob:
        assert bob.run(f"cd({str(inside)!r})") == "ok"
        assert bob.run("os.stat('f').st_size") == 4
        assert bob.run("sorted(os.listdir('.'))") == ["f"]
        nas.admin.share_acl("secret", "user", "bob", "remove")
        for source in ("os.stat('f').st_size", "os.listdir('.')", "open('f', 'rb').read()",
                       "os.access('f', os.R_OK)", "os.stat('..').st_mode"):
            assert bob.run(source) in ("ENOENT", False), source
