"""Is every member as current as the catalog? Finds members put back from an old copy.

Labels only change with membership, so a member directory copied away and later put back
carries a label as good as the others' while it lacks every stripe written since the copy.
The catalog knows what each member was last given: the newest stripe with a shard on it,
at a known offset of a known segment file. Shards are appended in stripe order and
fsynced before the catalog names them, so a current member's file reaches past that
shard; a member whose file is missing or ends before it missed those writes and is
refused as stale before anything reads it or writes to it (even its metadata copies).

The catalog is read from the newest copy on the present members, opened read-only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from nasfs.store.assembly import Assembly
from nasfs.store.disks import disk_name
from nasfs.store.errors import StaleMemberError
from nasfs.store.segments import segment_path

log = logging.getLogger(__name__)


def _newest_catalog(assembly: Assembly) -> sqlite3.Connection | None:
    best: tuple[int, Path] | None = None
    for member in assembly.present.values():
        path = member / "nasfs" / "db" / "store.db"
        if not path.exists():
            continue
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            try:
                row = conn.execute("SELECT generation, identity FROM _replica").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log.warning("cannot read %s to check members against it: %s", path, exc)
            continue
        if row is None or row[1] != assembly.label.array_uuid:
            continue
        if best is None or int(row[0]) > best[0]:
            best = (int(row[0]), path)
    if best is None:
        return None
    return sqlite3.connect(f"file:{best[1]}?mode=ro", uri=True, isolation_level=None)


def last_writes(conn: sqlite3.Connection, members: set[int], member_count: int,
                nparity: int) -> dict[int, tuple[int, int, int, int]]:
    """For each member, (stripe, segment, offset, shard_size) of the newest stripe on it."""
    found: dict[int, tuple[int, int, int, int]] = {}
    rows = conn.execute(
        "SELECT id, segment, offset, shard_size, width, first_member FROM stripes"
        " ORDER BY id DESC")
    for sid, segment, offset, size, width, first in rows:
        for j in range(int(width) + nparity):
            m = (int(first) + j) % member_count
            if m in members and m not in found:
                found[m] = (int(sid), int(segment), int(offset), int(size))
        if len(found) == len(members):
            break  # usually after the first full-width stripe
    return found


def members_behind(assembly: Assembly) -> dict[int, str]:
    """Each present member that lacks its newest shard, with why (one phrase each)."""
    try:
        conn = _newest_catalog(assembly)
    except sqlite3.Error as exc:
        log.warning("cannot check members against the catalog: %s", exc)
        return {}
    if conn is None:
        return {}  # a new array, or no catalog copy left: the catalog open reports that
    label = assembly.label
    try:
        newest = last_writes(conn, set(assembly.present), label.member_count, label.nparity)
    except sqlite3.Error as exc:
        log.warning("cannot check members against the catalog: %s", exc)
        return {}
    finally:
        conn.close()
    behind = {}
    for index, (stripe, segment, offset, size) in sorted(newest.items()):
        member = assembly.present[index]
        file = segment_path(member, segment)
        try:
            length = os.stat(file).st_size
        except FileNotFoundError:
            behind[index] = (f"{member} ({disk_name(index)}) lacks segment file {file.name}, "
                             f"which holds its part of stripe {stripe}")
            continue
        if length < offset + size:
            behind[index] = (f"{member} ({disk_name(index)}) ends at byte {length} of "
                             f"{file.name}, before its part of stripe {stripe} "
                             f"(bytes {offset}-{offset + size})")
    return behind


def check_current(assembly: Assembly) -> None:
    """Raise StaleMemberError naming every present member that lacks its newest shard."""
    behind = members_behind(assembly)
    if behind:
        raise StaleMemberError(
            "; ".join(behind.values()) + ": behind the rest of the array (put back from an "
            "old copy, or it missed writes), so it is not used: leave it out, or empty it "
            "and rebuild onto it"
        )
