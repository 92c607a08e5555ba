"""LOOKUPs of share folders in the root are answered from memory while nothing changed (no
SQL at all), and never once something did: a change in the metadata (the folder's own
attributes) or in the policy (a share made hidden to the caller) takes the full path again,
so the answer is never stale and a hidden share never leaks. In-process on a real store,
filesystem and policy database, calling the gate as the FUSE adapter does."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nasfs.fs import ROOT_INODE, Caller
from nasfs.policy.gate import Gate
from nasfs.policy.service import PolicyService
from tests.gate_util import ALICE, add_user, open_gate, share_for_everyone
from tests.policy_util import ROOT

BOB = Caller(2002, 2002, pid=os.getpid())
ADMIN = Caller(0, 0, pid=os.getpid())


def _office(policy: PolicyService) -> None:
    add_user(policy, "alice", 2001)
    add_user(policy, "bob", 2002)
    share_for_everyone(policy, "docs")


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    async with open_gate(tmp_path, _office) as g:
        yield g


@contextmanager
def statements(gate: Gate) -> Iterator[list[str]]:
    """Every SQL statement the filesystem database's primary copy runs inside."""
    ran: list[str] = []
    conn = gate.fs.db.conn  # type: ignore[attr-defined]
    conn.set_trace_callback(ran.append)
    try:
        yield ran
    finally:
        conn.set_trace_callback(None)


async def test_a_repeated_share_folder_lookup_runs_no_sql(gate: Gate) -> None:
    first = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert first is not None
    with statements(gate) as ran:
        again = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert again == first
    assert ran == []
    # Each reply gives the kernel a reference, answered from memory or not.
    assert gate.fs.lookup_count(first.ino) == 2
    gate.forget([(first.ino, 2)])
    assert first.ino not in gate.nodes
    # Forgotten by the kernel, then asked again: mapped again (later requests need it).
    assert await gate.lookup(ROOT_INODE, b"docs", ALICE) == first
    assert gate.nodes[first.ino].share == "docs"
    # Another caller gets their own answer: none is kept for them, so the full path runs
    # once (its look at the root's entry may still read nothing: the filesystem answers
    # the last entry looked up again while no statement ran since), then it is kept.
    bob, answers = gate.judge.principal(BOB), gate.live.root_answers
    assert answers.get(bob, b"docs") is None
    assert await gate.lookup(ROOT_INODE, b"docs", BOB) is not None
    assert answers.get(bob, b"docs") is not None


async def test_a_changed_share_folder_is_looked_up_again(gate: Gate) -> None:
    before = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert before is not None
    await gate.mkdir(before.ino, b"sub", 0o755, ALICE)
    after = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert after is not None
    assert after.nlink == before.nlink + 1
    assert after.mtime_ns >= before.mtime_ns and after != before


async def test_a_share_made_hidden_is_never_answered_from_memory(gate: Gate) -> None:
    assert await gate.lookup(ROOT_INODE, b"docs", ALICE) is not None
    assert await gate.lookup(ROOT_INODE, b"docs", ALICE) is not None
    policy = gate.policy
    assert policy is not None
    policy.admin.call("share.edit", {"name": "docs", "hidden": True}, ROOT)
    policy.admin.call("share.acl", {"name": "docs", "kind": "everyone", "access": "remove"},
                      ROOT)
    policy.admin.call("share.acl", {"name": "docs", "kind": "user", "principal": "bob",
                                    "access": "rw"}, ROOT)
    assert await gate.lookup(ROOT_INODE, b"docs", ALICE) is None
    assert await gate.lookup(ROOT_INODE, b"docs", BOB) is not None


async def test_changes_below_the_share_folder_keep_the_answer(gate: Gate) -> None:
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    sub = await gate.mkdir(docs.ino, b"work", 0o755, ALICE)  # changes the folder's row
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    # A create and an unlink in a subfolder (the create and unlink loads): the share
    # folder's row stays as it was, so its lookup is still answered from memory.
    fh, _ = await gate.create(sub.ino, b"file", 0o644, os.O_WRONLY, ALICE)
    await gate.release(fh)
    await gate.unlink(sub.ino, b"file", ALICE)
    await gate.fs.commit()
    with statements(gate) as ran:
        again = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert ran == [] and again == docs
    assert again == gate.live.rules.shown(gate.judge.principal(ALICE),
                                         gate.fs.getattr(docs.ino))


async def test_a_new_root_entry_or_a_rollback_drops_the_answers(gate: Gate) -> None:
    docs = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert docs is not None
    policy = gate.policy
    assert policy is not None
    gate.fs.mkdir(ROOT_INODE, b"loose", 0o755, ADMIN)  # an entry of the root changed
    with statements(gate) as ran:
        assert await gate.lookup(ROOT_INODE, b"docs", ALICE) == docs
    assert ran != []
    # A change of the folder's row that a rollback undoes: the answer given inside the
    # transaction is not kept past it.
    await gate.fs.commit()
    fh, _ = await gate.create(docs.ino, b"top-file", 0o644, os.O_WRONLY, ALICE)
    await gate.release(fh)
    inside = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert inside is not None and inside.mtime_ns >= docs.mtime_ns
    gate.fs.db.rollback()
    with statements(gate) as ran:
        after = await gate.lookup(ROOT_INODE, b"docs", ALICE)
    assert ran != [] and after is not None
    assert after.mtime_ns == docs.mtime_ns and after.nlink == docs.nlink
