"""`metadata restore --from SLOT`: make one member's copy of a database the source of all.

For when the newest copy is not the right one (or the daemon's automatic choice keeps
failing): every other copy on the present members is moved aside as
`NAME.db.before-restore-<UTC time>` (with its `-wal`/`-shm`, so each backup still opens as a
database) and replaced by a consistent copy of the chosen one. Backups are never deleted;
copies then carry the same generation, so the next open takes them as they are.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nasfs.db import copy_database
from nasfs.recovery.copies import DATABASES, CopyInfo, db_path, open_read_only
from nasfs.recovery.session import RecoveryError, RecoverySession
from nasfs.store.disks import disk_name, disk_names

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def _backup_aside(target: Path, stamp: str) -> Path | None:
    """Move `target` (and its WAL and shared-memory files) aside; the backup's path."""
    if not target.exists():
        return None
    backup = target.with_name(f"{target.name}.before-restore-{stamp}")
    n = 1
    while backup.exists():
        n += 1
        backup = target.with_name(f"{target.name}.before-restore-{stamp}.{n}")
    for suffix in ("-wal", "-shm"):
        side = Path(f"{target}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{backup}{suffix}"))
    os.replace(target, backup)
    return backup


def restore_from(session: RecoverySession, slot: int, databases: Sequence[str], say: Say
                 ) -> list[Path]:
    """Copy `databases` from member `slot` over every other copy; returns the backups."""
    present = session.present
    if slot not in present:
        raise RecoveryError(f"{disk_name(slot)} is not present (present: "
                            f"{disk_names(present) if present else 'none'})")
    for name in databases:
        if name not in DATABASES:
            raise RecoveryError(f"there is no database {name!r} (there are: "
                                f"{', '.join(DATABASES)})")
    copies = session.copies()
    chosen: dict[str, CopyInfo] = {}
    for name in databases:
        info = next(c for c in copies[name] if c.slot == slot)
        if not info.usable:
            raise RecoveryError(f"the copy of {name}.db on {disk_name(slot)} cannot be a source: "
                                f"{info.problem}; choose another member or name the "
                                "databases with --db")
        chosen[name] = info
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backups: list[Path] = []
    for name, info in chosen.items():
        source = open_read_only(info.path)
        try:
            for other, member in sorted(present.items()):
                if other == slot:
                    continue
                target = db_path(member, name)
                target.parent.mkdir(exist_ok=True)  # never a whole member tree
                backup = _backup_aside(target, stamp)
                copy_database(source, target)
                if backup is not None:
                    backups.append(backup)
                say(f"{name}.db on {disk_name(other)}: replaced by the copy of {disk_name(slot)} "
                    f"(generation {info.generation})"
                    + (f"; the old copy is kept as {backup.name}" if backup else ""))
        finally:
            source.close()
    return backups


def fill_missing_copies(session: RecoverySession, slot: int, say: Say) -> None:
    """Give member `slot` (just rebuilt) a copy of every database it lacks, from the best
    copy, as the daemon's next open would; the rebuild itself only carries store.db."""
    present = session.present
    if slot not in present:
        return
    from nasfs.recovery.copies import best_copy

    for name, copies in session.copies().items():
        mine = next((c for c in copies if c.slot == slot), None)
        best = best_copy(copies)
        if mine is None or mine.exists or best is None:
            continue
        target = db_path(present[slot], name)
        target.parent.mkdir(exist_ok=True)  # never a whole member tree
        source = open_read_only(best.path)
        try:
            copy_database(source, target)
        finally:
            source.close()
        say(f"{name}.db on {disk_name(slot)}: copied from {disk_name(best.slot)} "
            f"(generation {best.generation})")
