"""NAS users and groups as the operating system sees them (libnss-extrausers): real
`getent` and `id`, a real process as alice writing through a real FUSE mount because the
kernel sees her NAS groups, clashes with system accounts refused, deletion and switching
the setting off withdrawing the accounts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.client.connection import DaemonError
from nasfs.policy import osaccounts
from tests.fuse_policy_util import PolicyMount
from tests.os_accounts_util import preserved_extrausers

ALICE, BOB, SALES = 46101, 46102, 46150


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with preserved_extrausers():
        m = PolicyMount(tmp_path)
        try:
            m.start()
            a = m.admin
            a.settings_set("os.accounts", True)
            a.user_add("alice", ALICE)
            a.user_add("bob", BOB)
            a.group_add("sales", SALES)
            a.group_adduser("sales", "alice")
            yield m
            m.stop()
        finally:
            m.cleanup()


def getent(db: str, key: str) -> str | None:
    done = subprocess.run(["getent", db, key], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def test_users_and_groups_are_known_to_the_system(nas: PolicyMount) -> None:
    entry = getent("passwd", "alice")
    assert entry is not None and entry.split(":")[:4] == ["alice", "x", str(ALICE),
                                                         str(osaccounts.PRIMARY_GID)]
    assert getent("passwd", str(BOB)) is not None and getent("passwd", str(BOB)).startswith("bob:")
    assert getent("group", "sales") == f"sales:x:{SALES}:alice"
    ids = subprocess.run(["id", "alice"], capture_output=True, text=True, check=True).stdout
    assert f"uid={ALICE}(alice)" in ids and f"{SALES}(sales)" in ids
    ids = subprocess.run(["id", "-G", "bob"], capture_output=True, text=True, check=True).stdout
    assert str(SALES) not in ids.split()
    # /etc/passwd is not where they went.
    assert "alice" not in Path("/etc/passwd").read_text().split(":")


def test_membership_changes_follow_at_once(nas: PolicyMount) -> None:
    nas.admin.group_adduser("sales", "bob")
    assert getent("group", "sales") == f"sales:x:{SALES}:alice,bob"
    nas.admin.group_deluser("sales", "alice")
    assert getent("group", "sales") == f"sales:x:{SALES}:bob"


def _as(name: str, *cmd: str, init_groups: bool = True) -> subprocess.CompletedProcess[str]:
    groups = ["--init-groups"] if init_groups else ["--clear-groups"]
    return subprocess.run(["setpriv", "--reuid", name, "--regid", str(osaccounts.PRIMARY_GID),
                           *groups, *cmd], capture_output=True, text=True, check=False)


def test_alice_writes_into_the_department_share_through_her_nas_group(nas: PolicyMount) -> None:
    nas.admin.share_create("sales", force_group="sales", create_mode="0664", dir_mode="2775")
    nas.admin.share_acl("sales", "group", "sales", "rw")
    team = nas.mnt / "sales" / "team"
    team.mkdir()  # as root: group sales (forced), mode 2775 -> only the group may write
    st = team.stat()
    assert st.st_gid == SALES and st.st_mode & 0o777 == 0o775
    done = _as("alice", "touch", str(team / "by-alice"))
    assert done.returncode == 0, done.stderr
    assert (team / "by-alice").stat().st_uid == ALICE
    # The same process without her groups is refused by the kernel: it is the groups.
    denied = _as("alice", "touch", str(team / "no-groups"), init_groups=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_deleting_a_user_removes_it_from_the_system(nas: PolicyMount) -> None:
    nas.admin.user_del("alice")
    assert getent("passwd", "alice") is None
    assert getent("group", "sales") == f"sales:x:{SALES}:"
    nas.admin.group_del("sales")
    assert getent("group", "sales") is None
    shadow = (osaccounts.EXTRAUSERS_DIR / "shadow").read_text()
    assert "alice:" not in shadow and "bob:!:" in shadow


def test_clashes_with_system_accounts_are_refused(nas: PolicyMount) -> None:
    with pytest.raises(DaemonError, match="clashes with the system account 'daemon'"):
        nas.admin.user_add("carol", 1)  # uid 1 is Debian's daemon
    with pytest.raises(DaemonError, match="clashes with the system account 'daemon'"):
        nas.admin.user_add("daemon", 46103)
    with pytest.raises(DaemonError, match="clashes with the system group 'users'"):
        nas.admin.group_add("office", 100)
    assert getent("passwd", "carol") is None and getent("group", "office") is None


def test_the_administrator_can_be_added_while_accounts_are_published(
        nas: PolicyMount) -> None:
    """uid 0 is the system's root, never published: no clash, whenever it is added."""
    nas.admin.user_add("root", 0, password="an admin password")
    assert "root" in [u.name for u in nas.admin.user_list()]
    assert "root" not in (osaccounts.EXTRAUSERS_DIR / "passwd").read_text()


def test_turning_the_setting_off_withdraws_the_accounts(nas: PolicyMount) -> None:
    nas.admin.settings_set("os.accounts", False)
    assert getent("passwd", "alice") is None and getent("group", "sales") is None
    nas.admin.settings_set("os.accounts", True)
    assert getent("passwd", "alice") is not None


def test_second_sync_writes_nothing(tmp_path: Path) -> None:
    from nasfs.policy.records import GroupRecord, UserRecord

    users = [UserRecord("alice", ALICE, None, 0)]
    groups = [GroupRecord("sales", SALES, ("alice",))]
    assert osaccounts.sync(users, groups, "x", tmp_path)
    before = {p.name: os.stat(p).st_ino for p in tmp_path.iterdir()}
    assert not osaccounts.sync(users, groups, "x", tmp_path)
    assert {p.name: os.stat(p).st_ino for p in tmp_path.iterdir()} == before
    assert sorted(before) == ["group", "passwd", "shadow"]  # no temporary files left
