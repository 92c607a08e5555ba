"""The repairs that are safe to make offline: purge orphans, drop entries that name no
inode, and set every chunk's store reference count to the number of extent rows naming it.

fs.db is opened through nasfs.db.ReplicatedDB (so every copy gets the change) and edited
through nasfs.fs.Repository (the one place that writes fs.db's SQL); the store through
`Store.reconcile`. Each fix is reported through `say`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nasfs.recovery.session import RecoveryError, RecoverySession

if TYPE_CHECKING:
    from nasfs.store import Store

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def _open_fs_db(session: RecoverySession) -> Any:
    from nasfs.db import ReplicatedDB
    from nasfs.fs.schema import MIGRATIONS
    from nasfs.policy.service import db_dirs

    session.best("fs")  # a clear error when no copy is usable
    return ReplicatedDB.open("fs", db_dirs(session.present), sync_copies=session.nparity + 1,
                             migrations=MIGRATIONS, identity=session.array_uuid)


def reconcile_refs(session: RecoverySession, store: Store, counts: dict[bytes, int],
                   say: Say) -> int:
    """Set the store's refcounts to `counts`; returns how many chunks changed."""
    current = store.refcounts()
    unknown = [c for c in counts if c not in current]
    for cid in unknown[:10]:
        say(f"  chunk {cid.hex()[:16]} is named by {counts[cid]} extent row(s) but the store "
            "does not hold it (cannot be fixed here; salvage lists the files)")
    changed = {c: (old, counts.get(c, 0)) for c, old in current.items() if counts.get(c, 0) != old}
    for cid, (old, new) in list(changed.items())[:20]:
        say(f"  chunk {cid.hex()[:16]}: references {old} -> {new}")
    if len(changed) > 20:
        say(f"  ... and {len(changed) - 20} more")
    if changed:
        store.reconcile(counts)
    return len(changed)


def repair_refs(session: RecoverySession, say: Say) -> int:
    """`repair refs`; returns the number of chunks whose count changed."""
    from nasfs.fs.repository import Repository

    session.require_assemblable("repair refs")
    db = _open_fs_db(session)
    try:
        counts = Repository(db).chunk_refcounts()
    finally:
        db.close()
    with session.open_store("repair refs") as store:
        changed = reconcile_refs(session, store, counts, say)
    say(f"references: {changed} chunk(s) corrected" if changed
        else "references: every count already matched")
    return changed


def fsck_repair(session: RecoverySession, say: Say) -> int:
    """The fixable subset of `check`; returns the number of fixes made."""
    from nasfs.fs.repository import Repository

    session.require_assemblable("fsck --repair")
    db = _open_fs_db(session)
    fixes = 0
    try:
        repo = Repository(db)
        for ino in list(repo.orphans()):
            repo.delete_inode(ino)
            say(f"purged orphan inode {ino} (its data's references are dropped below)")
            fixes += 1
        dangling = db.query(
            "SELECT d.parent, d.name, d.ino FROM dentry d LEFT JOIN inode i"
            " ON i.id = d.ino AND i.died IS NULL WHERE d.died IS NULL AND i.id IS NULL")
        for parent, name, ino in dangling:
            repo.delete_dentry(int(parent), bytes(name))
            say(f"removed entry {bytes(name).decode(errors='replace')!r} in directory "
                f"{parent}: it named inode {ino}, which does not exist")
            fixes += 1
        db.commit(durable=True)
        counts = repo.chunk_refcounts()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    with session.open_store("fsck --repair") as store:
        changed = reconcile_refs(session, store, counts, say)
    if changed:
        say(f"reconciled {changed} chunk reference count(s) with the extent rows")
    fixes += changed
    if not fixes:
        say("nothing to repair")
    return fixes


def unlock(session: RecoverySession, user: str | None, source: str | None) -> dict[str, Any]:
    if (user is None) == (source is None):
        raise RecoveryError("unlock needs a user name or --source (one of them)")
    with session.open_policy() as service:
        params = {"name": user} if user is not None else {"source": source}
        result: dict[str, Any] = service.admin.call("user.unlock", params, session.actor())
        return result


def locks(session: RecoverySession) -> list[Any]:
    with session.open_policy() as service:
        return list(service.lockout.locks())
