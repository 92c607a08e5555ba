"""Which inodes the kernel is told to forget after a policy change
(nasfs.fuse.policy_changes): an ACL entry or an option of one share concerns only that
share's inodes (and top-level entries that are no share), and another share's stay cached;
a change of users or groups concerns every share. In-process on a real store, filesystem
and policy database: the inodes are those the gate handed out through real lookups and
creates, the changes are real admin calls (the kernel's side of the notification is probed
through real mounts in tests/test_shadow_probes.py)."""

from __future__ import annotations

import os
from pathlib import Path

from nasfs.fs import ROOT_INODE
from nasfs.fuse.policy_changes import ForgetOnPolicyChange, shares_touched
from nasfs.policy.gate import Gate
from nasfs.policy.service import PolicyService
from nasfs.policy.snapshot import PolicySnapshot
from tests.gate_util import ALICE, add_user, open_gate, share_for_everyone
from tests.policy_util import ROOT


def _office(policy: PolicyService) -> None:
    add_user(policy, "alice", 2001)
    add_user(policy, "bob", 2002)
    share_for_everyone(policy, "docs")
    share_for_everyone(policy, "sales")


async def _held(gate: Gate, share: bytes) -> set[int]:
    """The share folder and a file in it, both referenced by the kernel."""
    folder = await gate.lookup(ROOT_INODE, share, ALICE)
    assert folder is not None
    fh, a = await gate.create(folder.ino, b"f", 0o644, os.O_WRONLY, ALICE)
    await gate.release(fh)
    return {folder.ino, a.ino}


def _forgotten_after(gate: Gate, change: dict[str, object]) -> set[int]:
    """The inodes the kernel would be told to forget after the admin call `change`."""
    assert gate.policy is not None
    before = gate.policy.snapshot
    method = str(change.pop("method"))
    gate.policy.admin.call(method, change, ROOT)
    forget = ForgetOnPolicyChange(gate)
    return set(forget.inodes_of(shares_touched(before, gate.policy.snapshot)))


async def test_a_change_to_one_share_forgets_only_that_shares_inodes(tmp_path: Path) -> None:
    async with open_gate(tmp_path, _office) as gate:
        assert gate.policy is not None
        docs, sales = await _held(gate, b"docs"), await _held(gate, b"sales")
        assert docs | sales <= set(gate.kernel_inodes())

        # bob loses docs: docs' inodes go, sales' stay cached.
        gone = _forgotten_after(gate, {"method": "share.acl", "name": "docs", "kind": "user",
                                       "principal": "bob", "access": "none"})
        assert docs <= gone and not sales & gone
        # sales made hidden: the other way round.
        gone = _forgotten_after(gate, {"method": "share.edit", "name": "sales",
                                       "hidden": True})
        assert sales <= gone and not docs & gone
        # A group membership can decide in any share (an entry naming the group): all go.
        gate.policy.admin.call("group.add", {"name": "office", "gid": 3000}, ROOT)
        gone = _forgotten_after(gate, {"method": "group.adduser", "group": "office",
                                       "user": "bob"})
        assert docs | sales <= gone
        assert gone == set(gate.kernel_inodes())
        # A user deleted: all go too.
        gone = _forgotten_after(gate, {"method": "user.del", "name": "bob"})
        assert docs | sales <= gone


def test_nothing_to_compare_with_is_every_share() -> None:
    empty = PolicySnapshot.build(1, [], [], [])
    assert shares_touched(None, empty) is None
    assert shares_touched(empty, PolicySnapshot.build(2, [], [], [])) == frozenset()
