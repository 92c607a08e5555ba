"""Effective access: the ACL evaluation table, homes folders, and the live snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.policy.acl import Access, AclEntry, Principal, evaluate, evaluate_home
from nasfs.policy.service import PolicyService
from tests.policy_util import ROOT, open_policy

ALICE = Principal(1001, 1001, "alice", frozenset({"sales"}), False, False)
BOB = Principal(1002, 1002, "bob", frozenset({"sales", "eng"}), False, False)
CAROL = Principal(1003, 1003, "carol", frozenset(), False, False)
GUEST = Principal(4242, 4242, None, frozenset(), False, True)
ROOT_P = Principal(0, 0, "root", frozenset(), True, False)


def e(kind: str, who: str, access: str) -> AclEntry:
    return AclEntry(kind, who, Access.parse(access))


@pytest.mark.parametrize(("entries", "who", "access", "admin"), [
    ([], ALICE, "none", False),
    ([e("everyone", "", "ro")], ALICE, "ro", False),
    ([e("everyone", "", "rw")], CAROL, "rw", False),
    ([e("user", "alice", "rw")], ALICE, "rw", False),
    ([e("user", "alice", "rw")], BOB, "none", False),
    ([e("group", "sales", "ro")], BOB, "ro", False),
    ([e("group", "sales", "ro"), e("group", "eng", "rw")], BOB, "rw", False),  # highest grant
    ([e("everyone", "", "ro"), e("user", "alice", "rw")], ALICE, "rw", False),
    ([e("everyone", "", "rw"), e("user", "alice", "ro")], ALICE, "rw", False),
    ([e("everyone", "", "rw"), e("group", "sales", "none")], ALICE, "none", False),  # deny wins
    ([e("user", "bob", "rw"), e("group", "eng", "none")], BOB, "none", False),
    ([e("group", "sales", "rw"), e("user", "bob", "none")], BOB, "none", False),
    ([e("group", "sales", "rw"), e("user", "bob", "none")], ALICE, "rw", False),
    ([e("everyone", "", "none"), e("user", "carol", "rw")], CAROL, "none", False),
    ([e("everyone", "", "rw")], GUEST, "none", False),  # guests match no entry
    ([], ROOT_P, "rw", True),  # administrators: rw, flagged as administrator access
    ([e("everyone", "", "none")], ROOT_P, "rw", True),
    ([e("user", "root", "rw")], ROOT_P, "rw", False),  # the ACL gave it: not flagged
])
def test_acl_table(entries: list[AclEntry], who: Principal, access: str, admin: bool) -> None:
    decision = evaluate(entries, who)
    assert decision.access.word == access
    assert decision.admin is admin


def test_homes_folder_owner_and_admin_only() -> None:
    assert evaluate_home("alice", ALICE).access == Access.RW
    assert evaluate_home("alice", BOB).access == Access.NONE
    assert evaluate_home("alice", GUEST).access == Access.NONE
    admin = evaluate_home("alice", ROOT_P)
    assert admin.access == Access.RW and admin.admin


@pytest.fixture
def service(tmp_path: Path) -> Iterator[PolicyService]:
    svc = open_policy(tmp_path)
    yield svc
    svc.close()


def test_changes_take_effect_at_once(service: PolicyService) -> None:
    call = service.admin.call
    call("user.add", {"name": "alice", "uid": 1001}, ROOT)
    call("group.add", {"name": "sales", "gid": 2000}, ROOT)
    call("share.create", {"name": "docs"}, ROOT)
    version = service.version
    who = service.identity_for(1001, 1001)
    assert who.name == "alice" and not who.is_guest and who.groups == frozenset()
    docs = service.share("docs")
    assert docs is not None and service.decide(who, docs).access == Access.NONE

    call("group.adduser", {"group": "sales", "user": "alice"}, ROOT)
    call("share.acl", {"name": "docs", "kind": "group", "principal": "sales", "access": "ro"},
         ROOT)
    assert service.version > version
    who = service.identity_for(1001, 1001)
    assert who.groups == frozenset({"sales"})
    docs = service.share("docs")
    assert docs is not None and service.decide(who, docs).access == Access.RO
    assert call("share.effective", {"name": "docs", "user": "alice"}, ROOT)["access"] == "ro"

    call("share.acl", {"name": "docs", "kind": "everyone", "access": "none"}, ROOT)
    assert call("share.effective", {"name": "docs", "user": "alice"}, ROOT)["access"] == "none"
    root = call("share.effective", {"name": "docs", "user": "root"}, ROOT)
    assert root == {"share": "docs", "user": "root", "access": "rw", "admin_access": True,
                    "why": "rw as an administrator (audited); the access list alone gives none "
                           "through everyone; a none entry that applies wins"}
    call("share.acl", {"name": "docs", "kind": "everyone", "access": "remove"}, ROOT)
    assert call("share.effective", {"name": "docs", "user": "alice"}, ROOT)["access"] == "ro"

    # Deleting the group removes its entries; alice is left with nothing.
    call("group.del", {"name": "sales"}, ROOT)
    assert call("share.show", {"name": "docs"}, ROOT)["acl"] == []
    assert call("share.effective", {"name": "docs", "user": "alice"}, ROOT)["access"] == "none"


def test_unknown_uid_is_guest_and_uid0_is_admin(service: PolicyService) -> None:
    guest = service.identity_for(5555, 5555)
    assert guest.is_guest and guest.name is None and not guest.is_admin
    root = service.identity_for(0, 0)
    assert root.is_admin and root.name == "root"


def test_guests_read_a_guest_share_and_nothing_else(service: PolicyService) -> None:
    call = service.admin.call
    call("share.create", {"name": "public", "guest": True}, ROOT)
    call("share.create", {"name": "docs"}, ROOT)
    call("share.acl", {"name": "docs", "kind": "everyone", "access": "rw"}, ROOT)
    guest = service.identity_for(65534, 65534)
    snapshot = service.snapshot
    public, docs = snapshot.share("public"), snapshot.share("docs")
    assert public is not None and docs is not None and public.guest and not docs.guest
    assert snapshot.decide(guest, public).access.word == "ro"
    assert snapshot.decide(guest, docs).access.word == "none"  # not even through everyone
    assert call("share.edit", {"name": "public", "guest": False}, ROOT)["guest"] is False
    assert service.snapshot.decide(guest, service.snapshot.shares["public"]).access.word \
        == "none"


def test_share_options_and_validation(service: PolicyService) -> None:
    call = service.admin.call
    call("group.add", {"name": "eng", "gid": 3000}, ROOT)
    share = call("share.create", {"name": "eng", "hidden": True, "trash_days": None,
                                  "force_group": "eng", "create_mode": "0664",
                                  "dir_mode": "2775", "keep_overwritten": False}, ROOT)
    assert share == {"name": "eng", "hidden": True, "trash_days": None, "homes": False,
                     "force_group": "eng", "create_mode": "0664", "dir_mode": "2775",
                     "keep_overwritten": False, "time_machine_gib": None, "guest": False,
                     "case_sensitive": False, "acl": []}
    edited = call("share.edit", {"name": "eng", "hidden": False, "trash_days": 7}, ROOT)
    assert edited["hidden"] is False and edited["trash_days"] == 7
    assert edited["force_group"] == "eng"
    created: list[str] = []
    service.on_share_created.append(lambda s: created.append(s.name))
    call("share.create", {"name": "homes", "homes": True}, ROOT)
    assert created == ["homes"]
    assert call("share.effective", {"name": "homes", "user": "root", "home": "x"},
                ROOT)["admin_access"] is True

    from nasfs.errors import NasfsError

    for params, text in [
        ({"name": "a/b"}, "contains '/'"), ({"name": ".."}, "cannot be called"),
        ({"name": "#trash"}, "starts with '#'"), ({"name": "x" * 256}, "at most 255"),
        ({"name": "eng"}, "exists already"),
        ({"name": "h2", "homes": True}, "homes share already"),
        ({"name": "m", "create_mode": "999"}, "not an octal mode"),
        ({"name": "m", "dir_mode": 0o17777}, "not a permission mode"),
        ({"name": "t", "trash_days": 0}, "between 1 and"),
        ({"name": "g", "force_group": "nosuch"}, "no group 'nosuch'"),
        ({"name": "g", "guest": True, "hidden": True}, "cannot allow guests: it is hidden"),
        ({"name": "g", "guest": True, "homes": True}, "cannot allow guests: it is the homes"),
        ({"name": "g", "guest": "yes"}, "wrong type"),
    ]:
        with pytest.raises(NasfsError, match=text):
            call("share.create", params, ROOT)
    with pytest.raises(NasfsError, match="forced group of share"):
        call("group.del", {"name": "eng"}, ROOT)
    with pytest.raises(NasfsError, match="no user 'nobody'"):
        call("share.acl", {"name": "eng", "kind": "user", "principal": "nobody",
                           "access": "rw"}, ROOT)
    with pytest.raises(NasfsError, match="rw, ro, none or remove"):
        call("share.acl", {"name": "eng", "kind": "everyone", "access": "write"}, ROOT)
    call("share.del", {"name": "eng"}, ROOT)
    assert [s["name"] for s in call("share.list", {}, ROOT)] == ["homes"]
