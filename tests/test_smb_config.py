"""The generated smb.conf: accepted by the real `testparm`, with the safe protocol defaults,
one section per share at its folder in the mount, and valid users as the gate decides."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nasfs.policy.acl import Access, AclEntry
from nasfs.policy.records import GroupRecord, ShareRecord, UserRecord
from nasfs.policy.snapshot import PolicySnapshot
from nasfs.smb import previous
from nasfs.smb.apply import SmbConfigError, apply, apply_files
from nasfs.smb.config import MAIN, Site, directories, render


def _policy() -> PolicySnapshot:
    users = [UserRecord("alice", 46101, "h", 0), UserRecord("bob", 46102, "h", 0),
             UserRecord("carol", 46103, None, 0)]
    groups = [GroupRecord("sales", 46150, ("alice", "carol"))]
    shares = [ShareRecord("public", acl=(AclEntry("everyone", "", Access.RW),)),
              ShareRecord("sales", acl=(AclEntry("group", "sales", Access.RW),)),
              ShareRecord("secret", hidden=True, acl=(AclEntry("user", "alice", Access.RO),))]
    return PolicySnapshot.build(1, users, groups, shares)


def _testparm(conf: Path, *section: str) -> str:
    for d in directories(Site(Path("/srv/nas"), conf.parent / "smb")):
        d.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["testparm", "-s", "-v" if not section else "--section-name",
                           *section, str(conf)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_testparm_accepts_the_configuration_and_sees_the_safe_defaults(tmp_path: Path) -> None:
    conf = tmp_path / "smb.conf"
    conf.write_text(render(_policy(), Site(Path("/srv/nas"), tmp_path / "smb", port=4450))[MAIN])
    full = _testparm(conf)
    # testparm names SMB2_10 by its alias "SMB2" (SMB2_02, the older variant, stays off).
    for line in ("server min protocol = SMB2", "ntlm auth = ntlmv2-only",
                 "server signing = required", "server smb encrypt = if_required",
                 "map to guest = Never", "smb ports = 4450"):
        assert f"\t{line}\n" in full, line
    assert "recycle" not in full


def test_each_share_points_into_the_mount_and_admits_whom_the_gate_admits(
        tmp_path: Path) -> None:
    conf = tmp_path / "smb.conf"
    files = render(_policy(), Site(Path("/srv/nas"), tmp_path / "smb"))
    conf.write_text(files[MAIN])
    sales = _testparm(conf, "sales")
    assert "path = /srv/nas/sales" in sales
    # carol is in sales but has no password: no SMB login, so not listed.
    assert "valid users = alice\n" in sales
    assert "valid users = alice bob\n" in _testparm(conf, "public")
    # Visible shares are listed to everyone (no access-based enumeration hides them).
    assert "access based share enum" not in files[MAIN]


def test_hidden_shares_exist_only_in_the_files_of_their_users(tmp_path: Path) -> None:
    site = Site(Path("/srv/nas"), tmp_path / "smb")
    files = render(_policy(), site)
    assert sorted(files) == [MAIN, "users/alice.conf", "users/bob.conf"]  # carol: no password
    assert "[secret]" not in files[MAIN]
    assert f"include = {site.users_dir}/%U.conf" in files[MAIN]
    assert "[secret]" in files["users/alice.conf"] and "[secret]" not in files["users/bob.conf"]
    # alice's view, as smbd builds it for her session: the include with %U = alice.
    conf = tmp_path / "alice-view.conf"
    conf.write_text(files[MAIN].replace("%U", "alice"))
    (tmp_path / "smb" / "users").mkdir(parents=True)
    (tmp_path / "smb" / "users" / "alice.conf").write_text(files["users/alice.conf"])
    secret = _testparm(conf, "secret")
    assert "browseable = No" in secret and "valid users = alice\n" in secret


def test_rendering_is_a_pure_function(tmp_path: Path) -> None:
    site = Site(Path("/srv/nas"), tmp_path)
    assert render(_policy(), site) == render(_policy(), site)


def test_apply_installs_a_valid_configuration_and_keeps_the_old_one_on_a_bad_one(
        tmp_path: Path) -> None:
    site = Site(Path("/srv/nas"), tmp_path / "smb")
    conf = tmp_path / "etc" / "smb.conf"
    text = render(_policy(), site)[MAIN]
    assert apply(text, conf, directories=tuple(directories(site)))
    assert conf.read_text() == text
    assert not apply(text, conf)  # unchanged: nothing written
    with pytest.raises(SmbConfigError, match="testparm refused"):
        apply(text + "[broken\n   path = /x\n   server role = what\n", conf)
    assert conf.read_text() == text
    assert sorted(p.name for p in conf.parent.iterdir()) == ["smb.conf"]


def test_apply_files_writes_the_user_files_and_drops_stale_ones(tmp_path: Path) -> None:
    site = Site(Path("/srv/nas"), tmp_path / "smb")
    files = render(_policy(), site)
    assert apply_files(files, site.state_dir, directories=tuple(directories(site)))
    assert not apply_files(files, site.state_dir)
    (site.users_dir / "gone.conf").write_text("[old]\n")
    assert apply_files(files, site.state_dir)
    assert sorted(p.name for p in site.users_dir.iterdir()) == ["alice.conf", "bob.conf"]
    assert (site.users_dir / "alice.conf").read_text() == files["users/alice.conf"]


def test_previous_versions_name_every_snapshot_by_its_moment(tmp_path: Path) -> None:
    second = 1_796_000_000 * 1_000_000_000
    own = previous.gmt_name(second + 5_000_000_000)
    snaps = [("@GMT-2026.11.30-10.00.00", second), ("before-holidays", second + 5_000_000_001),
             ("same-second", second + 5_500_000_000)]
    wanted = previous.versions(snaps)
    assert wanted == {"@GMT-2026.11.30-10.00.00": "@GMT-2026.11.30-10.00.00",
                      own: "before-holidays"}  # one entry per second: the older one
    mnt = tmp_path / "mnt"
    assert previous.sync(tmp_path, mnt, {("docs", "alice"): wanted, ("docs", None): {}})
    link = previous.share_dir(tmp_path, "docs", "alice") / own
    assert os.readlink(link) == str(mnt / "docs" / "#snapshot" / "before-holidays")
    assert list(previous.share_dir(tmp_path, "docs").iterdir()) == []
    # nothing to change
    assert not previous.sync(tmp_path, mnt, {("docs", "alice"): wanted, ("docs", None): {}})
    # A link removed behind nasfs's back is made again (the directory's mtime changed).
    link.unlink()
    assert previous.sync(tmp_path, mnt, {("docs", "alice"): wanted, ("docs", None): {}})
    assert link.is_symlink()
    previous.sync(tmp_path, mnt, {("docs", "alice"): {own: "before-holidays"},
                                  ("sales", "alice"): {}})
    assert sorted(p.name for p in previous.share_dir(tmp_path, "docs", "alice").iterdir()) \
        == [own]
    previous.sync(tmp_path, mnt, {("sales", "alice"): {}})
    assert [p.name for p in (tmp_path / "previous").iterdir()] == [
        previous.dir_name(tmp_path, "sales", "alice")]
    # Each share and user has a directory of their own, none named after either.
    names = {previous.dir_name(tmp_path, s, v) for s in ("docs", "sales")
             for v in ("alice", "bob", None)}
    assert len(names) == 6 and not any("docs" in n or "alice" in n for n in names)


def test_each_users_file_points_the_shares_they_may_read_at_their_own_versions(
        tmp_path: Path) -> None:
    """The per-user file names again the visible shares its user may read, with the user's
    own Previous Versions folder: the real testparm, reading the main file and alice's file
    as smbd does for her session, sees her folder and every other option in the share's
    section (a section named again drops the `module:option` lines of the first, which is
    why the file repeats them all), and the main file alone the share's own folder."""
    site = Site(Path("/srv/nas"), tmp_path / "smb")
    files = render(_policy(), site)
    alice = files["users/alice.conf"]
    assert "[public]" in alice and "[sales]" in alice and "[secret]" in alice
    assert "[sales]" not in files["users/bob.conf"]  # bob may not read sales
    (tmp_path / "alice.conf").write_text(alice)
    main = tmp_path / "smb.conf"
    main.write_text(files[MAIN].replace(f"{site.users_dir}/%U.conf",
                                        str(tmp_path / "alice.conf")))
    for share in ("public", "sales"):
        section = _testparm(main, share)
        assert f"shadow:snapdir = {previous.share_dir(site.state_dir, share, 'alice')}\n" \
            in section, section
        for kept in (f"path = /srv/nas/{share}", f"shadow:basedir = /srv/nas/{share}",
                     "shadow:format = @GMT-%Y.%m.%d-%H.%M.%S", "valid users = alice"):
            assert kept in section, (kept, section)  # the rest of the section is there
    assert f"shadow:snapdir = {previous.share_dir(site.state_dir, 'secret', 'alice')}\n" \
        in _testparm(main, "secret")
    main.write_text(files[MAIN])
    assert f"shadow:snapdir = {previous.share_dir(site.state_dir, 'public')}\n" \
        in _testparm(main, "public")


def test_names_folding_into_one_share_a_file_of_the_hidden_shares_all_may_use(
        tmp_path: Path) -> None:
    """smbd includes users/%U.conf with %U lowercased: Dana's file is dana.conf, and when an
    array holds both dana and Dana (user add refuses that now), the file lists only the
    hidden shares both may read."""
    users = [UserRecord("Dana", 46111, "h", 0), UserRecord("dana", 46112, "h", 0),
             UserRecord("Eve", 46113, "h", 0)]
    shares = [ShareRecord("danas", hidden=True, acl=(AclEntry("user", "Dana", Access.RW),)),
              ShareRecord("both", hidden=True, acl=(AclEntry("user", "Dana", Access.RW),
                                                   AclEntry("user", "dana", Access.RO))),
              ShareRecord("eves", hidden=True, acl=(AclEntry("user", "Eve", Access.RW),))]
    files = render(PolicySnapshot.build(1, users, [], shares),
                   Site(Path("/srv/nas"), tmp_path / "smb"))
    assert sorted(files) == [MAIN, "users/dana.conf", "users/eve.conf"]
    assert "[both]" in files["users/dana.conf"] and "[danas]" not in files["users/dana.conf"]
    assert "[eves]" in files["users/eve.conf"]
