"""Trash retention with an injected clock, on a real store, filesystem and policy databases
(in-process, no mount): items older than their share's `trash_days` are purged, younger
ones and other shares' stay, and each purge is logged."""

from __future__ import annotations

import os
from pathlib import Path

from nasfs.daemon.trash_retention import purge_expired
from nasfs.fs import ROOT_INODE, Caller, Filesystem
from nasfs.policy import ManualClock
from nasfs.policy.auditstore import LogFilter
from nasfs.policy.gate import Gate
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS, Trash
from tests.policy_util import ROOT, open_policy

DAY = 86_400.0
ALICE = Caller(2001, 2001, pid=os.getpid())


async def test_retention_per_share_with_a_moved_clock(tmp_path: Path) -> None:
    members = [tmp_path / f"m{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1)
    store = Store.open(members)
    clock = ManualClock()
    policy = open_policy(tmp_path / "policy", clock)
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    try:
        admin = policy.admin
        admin.call("user.add", {"name": "alice", "uid": 2001}, ROOT)
        admin.call("share.create", {"name": "week", "trash_days": 7}, ROOT)
        admin.call("share.create", {"name": "month"}, ROOT)
        for share in ("week", "month"):
            admin.call("share.acl", {"name": share, "kind": "everyone", "access": "rw"}, ROOT)
        trash = Trash(fs, clock)
        gate = Gate(fs, policy, trash)
        gate.ensure_all_share_folders()

        async def delete(share: bytes, name: bytes) -> None:
            folder = await gate.lookup(ROOT_INODE, share, ALICE)
            assert folder is not None
            fh, _ = await gate.create(folder.ino, name, 0o644, os.O_WRONLY, ALICE)
            await gate.write(fh, 0, b"content of " + name)
            await gate.release(fh)
            await gate.unlink(folder.ino, name, ALICE)

        await delete(b"week", b"old")
        await delete(b"month", b"old")
        clock.advance(5 * DAY)
        await delete(b"week", b"young")
        assert [(i.share, i.path) for i in trash.items()] == [
            ("week", b"/old"), ("month", b"/old"), ("week", b"/young")]
        assert purge_expired(trash, policy) == []

        clock.advance(3 * DAY)  # week/old is 8 days old now
        purged = purge_expired(trash, policy)
        assert [(i.share, i.path) for i in purged] == [("week", b"/old")]
        assert [(i.share, i.path) for i in trash.items()] == [
            ("month", b"/old"), ("week", b"/young")]

        clock.advance(30 * DAY)
        assert {(i.share, i.path) for i in purge_expired(trash, policy)} == {
            ("month", b"/old"), ("week", b"/young")}
        assert trash.items() == [] and trash.usage() == {}
        await fs.commit()  # purged data is released once the removal is durable

        # A share switched to --no-trash keeps nothing from before either.
        await delete(b"month", b"again")
        admin.call("share.edit", {"name": "month", "trash_days": None}, ROOT)
        assert [i.path for i in purge_expired(trash, policy)] == [b"/again"]

        # No access-log writer runs here, so purges went to the system log, never lost.
        rows = list(policy.audit_store.iterate("system", LogFilter(operation="purge")))
        assert len(rows) == 4 and all(r.detail and "retention" in r.detail for r in rows)
    finally:
        await fs.close()
        store.close()
        policy.close()
