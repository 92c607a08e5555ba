"""Repairs of the recovery shell on real arrays: fsck --repair (orphans, dangling entries,
reference counts), repair refs, and unlocking accounts offline."""

from __future__ import annotations

from pathlib import Path

from nasfs.db import ReplicatedDB
from nasfs.fs import Filesystem
from nasfs.fs.schema import MIGRATIONS
from nasfs.policy import PolicyService, db_dirs
from nasfs.policy.hooks import NO_HOOKS
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS
from tests.recovery_util import ALICE, new_members, populate, run


async def _orphan_left_by_a_crash(members: list[Path]) -> None:
    """A file unlinked while open, then the process dies without closing the volume."""
    store = Store.open(members)
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    a = fs.create(1, b"scratch", 0o600, ALICE)
    await fs.write(a.ino, 0, b"x" * 5000)
    await fs.commit()
    fs.unlink(1, b"scratch", ALICE)
    fs.db.commit(durable=True)
    fs.db.close()  # no fs.close(): the orphan row stays, as after kill -9
    store.close()


def _damage_references_and_entries(members: list[Path]) -> None:
    store = Store.open(members)
    db = ReplicatedDB.open("fs", [m / "nasfs" / "db" for m in members], sync_copies=2,
                           migrations=MIGRATIONS, identity=store.label.array_uuid)
    try:
        chunks = [bytes(r[0]) for r in db.query("SELECT DISTINCT chunk FROM extent LIMIT 2")]
        gen = int(db.query_one("SELECT value FROM meta WHERE key = 'generation'")[0])
        db.execute("INSERT INTO dentry (parent, name, ino, born, died) VALUES (1, ?, 9999, ?,"
                   " NULL)", (b"ghost", gen))
        db.commit(durable=True)
    finally:
        db.close()
    store.retain([chunks[0], chunks[0]])  # leaked references
    store.release([chunks[1]])  # one reference too few
    store.close()


async def test_fsck_repair_fixes_what_check_found(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    await populate(members, small_files=3)
    await _orphan_left_by_a_crash(members)
    _damage_references_and_entries(members)
    run_dir = tmp_path / "run"
    code, out, err = run(members, run_dir, "check")
    assert code == 1, out + err
    assert "1 orphan inode(s)" in out
    assert "'ghost' in directory 1 -> inode 9999" in out
    assert "more store references than extent rows" in out
    assert "fewer store references than extent rows" in out
    code, out, err = run(members, run_dir, "fsck --repair", "check --full")
    assert code == 0, out + err
    assert "purged orphan inode" in out
    assert "removed entry 'ghost' in directory 1" in out
    assert "reconciled" in out
    assert "check: clean" in out
    code, out, _ = run(members, run_dir, "fsck --repair")
    assert code == 0 and "nothing to repair" in out


async def test_repair_refs(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    await populate(members, small_files=2)
    _damage_references_and_entries(members)
    run_dir = tmp_path / "run"
    code, out, err = run(members, run_dir, "repair refs")
    assert code == 0, out + err
    assert "references: 2 chunk(s) corrected" in out
    code, out, _ = run(members, run_dir, "repair refs")
    assert "every count already matched" in out


async def test_unlock_user_and_source(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    store = Store.open(members)
    uuid = store.label.array_uuid
    store.close()
    service = PolicyService.open(db_dirs(members), nparity=1, identity=uuid, hooks=NO_HOOKS)
    try:
        service.accounts.add_user("alice", 1001, "right")
        for _ in range(5):
            service.lockout.check("alice", "wrong", "tty7")
        assert service.lockout.is_locked("user", "alice")
        assert service.lockout.is_locked("source", "tty7")
    finally:
        service.close()
    run_dir = tmp_path / "run"
    code, out, err = run(members, run_dir, "unlock", "unlock alice", "unlock --source tty7",
                         "unlock alice", "unlock")
    assert code == 0, out + err
    assert "locked user alice" in out and "locked source tty7" in out
    # tty7 was locked by alice's failures only: unlocking alice frees it too.
    assert "unlock: unlocked alice; also unlocked logins from tty7 (locked only by " \
           "alice's failed logins)" in out
    assert "unlock: logins from tty7 were not locked" in out
    assert "unlock: alice was not locked" in out
    assert out.rstrip().endswith("unlock: nothing is locked")
    service = PolicyService.open(db_dirs(members), nparity=1, identity=uuid, hooks=NO_HOOKS)
    try:
        assert not service.lockout.is_locked("user", "alice")
        assert service.lockout.check("alice", "right", "tty7").ok
    finally:
        service.close()


async def test_unlock_without_policy_database(tmp_path: Path) -> None:
    members = new_members(tmp_path)
    code, _, err = run(members, tmp_path / "run", "unlock alice")
    assert code == 1
    assert err == ("nasfs: this array has no policy.db (no daemon has served it yet), so "
                   "there are no accounts to unlock\n")
