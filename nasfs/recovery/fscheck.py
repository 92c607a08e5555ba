"""Read-only consistency checks of fs.db against the store catalog (attached as `store`).

Everything here takes a connection from `RecoverySession.read_metadata()` and only reads.
The rules checked are the invariants of nasfs.fs.schema and docs/architecture.md: every
extent row (any version) holds one store reference to a chunk the catalog knows; every live
entry names a live inode; every live inode is reachable from the root or the trash
directory (`meta.trash_dir`), or is an orphan waiting to be purged.
"""

from __future__ import annotations

import logging
import sqlite3
import stat
from collections import deque

from nasfs.fs.schema import ROOT_INODE
from nasfs.recovery.findings import Finding
from nasfs.trash.schema import TRASH_DIR_KEY

log = logging.getLogger(__name__)

SHOWN = 10  # items listed per kind of finding; the rest are counted


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def roots(conn: sqlite3.Connection) -> list[int]:
    """The root directory and the trash directory (no path reaches it, but it is kept)."""
    found = [ROOT_INODE]
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (TRASH_DIR_KEY,)).fetchone()
    if row is not None and row[0] is not None:
        found.append(int(row[0]))
    return found


def check_references(conn: sqlite3.Connection) -> list[Finding]:
    findings: list[Finding] = []
    unknown = conn.execute(
        "SELECT e.chunk, count(*) FROM extent e LEFT JOIN store.chunks c ON c.id = e.chunk"
        " WHERE c.id IS NULL GROUP BY e.chunk").fetchall()
    if unknown:
        findings.append(Finding("references", (
            f"{len(unknown)} chunk(s) named by extents are not in the store catalog (their "
            f"records read as lost): {_listed([bytes(r[0]).hex()[:16] for r in unknown])}")))
    rows = conn.execute(
        "SELECT c.id, c.refs, COALESCE(x.n, 0), c.length FROM store.chunks c"
        " LEFT JOIN (SELECT chunk, count(*) AS n FROM extent GROUP BY chunk) x"
        " ON x.chunk = c.id WHERE c.refs != COALESCE(x.n, 0)").fetchall()
    too_many = [r for r in rows if int(r[1]) > int(r[2])]
    too_few = [r for r in rows if int(r[1]) < int(r[2])]
    if too_many:
        leaked = sum(int(r[3]) for r in too_many if int(r[2]) == 0)
        findings.append(Finding("references", (
            f"{len(too_many)} chunk(s) have more store references than extent rows "
            f"(space that is never reclaimed, {leaked} bytes held by nothing): "
            f"{_listed([f'{bytes(r[0]).hex()[:16]} refs {r[1]} rows {r[2]}' for r in too_many])}"
        ), fixable=True))
    if too_few:
        findings.append(Finding("references", (
            f"{len(too_few)} chunk(s) have fewer store references than extent rows "
            "(compaction could drop data still in use): "
            f"{_listed([f'{bytes(r[0]).hex()[:16]} refs {r[1]} rows {r[2]}' for r in too_few])}"
        ), fixable=True))
    return findings


def check_namespace(conn: sqlite3.Connection) -> list[Finding]:
    findings: list[Finding] = []
    live = {int(r[0]): int(r[1]) for r in conn.execute(
        "SELECT id, mode FROM inode WHERE died IS NULL")}
    if ROOT_INODE not in live:
        findings.append(Finding("namespace", "the root directory (inode 1) is missing"))
    orphans = [int(r[0]) for r in conn.execute("SELECT ino FROM orphan ORDER BY ino")]
    if orphans:
        findings.append(Finding("namespace", (
            f"{len(orphans)} orphan inode(s) (unlinked while open at the last stop), waiting "
            f"to be purged: {_listed([str(i) for i in orphans])}"), fixable=True))
    dangling = conn.execute(
        "SELECT d.parent, d.name, d.ino FROM dentry d LEFT JOIN inode i"
        " ON i.id = d.ino AND i.died IS NULL WHERE d.died IS NULL AND i.id IS NULL").fetchall()
    if dangling:
        findings.append(Finding("namespace", (
            f"{len(dangling)} entr(ies) name inodes that do not exist: "
            + _listed([f"{bytes(r[1]).decode(errors='replace')!r} in directory {r[0]} -> "
                       f"inode {r[2]}" for r in dangling])), fixable=True))
    children: dict[int, list[int]] = {}
    for parent, ino in conn.execute("SELECT parent, ino FROM dentry WHERE died IS NULL"):
        children.setdefault(int(parent), []).append(int(ino))
    not_dirs = [p for p in children if p in live and not stat.S_ISDIR(live[p])]
    if not_dirs:
        findings.append(Finding("namespace", (
            f"{len(not_dirs)} inode(s) that are not directories hold entries: "
            f"{_listed([str(i) for i in not_dirs])}")))
    reached: set[int] = set()
    queue = deque(r for r in roots(conn) if r in live)
    while queue:
        ino = queue.popleft()
        if ino in reached:
            continue
        reached.add(ino)
        if stat.S_ISDIR(live.get(ino, 0)):
            queue.extend(c for c in children.get(ino, ()) if c in live)
    lost = sorted(set(live) - reached - set(orphans))
    if lost:
        findings.append(Finding("namespace", (
            f"{len(lost)} live inode(s) are reachable from neither the root nor the trash "
            f"(salvage cannot name them): {_listed([str(i) for i in lost])}")))
    # Entries in the unnamed directories (the trash) are no links users see: not counted.
    hidden = ",".join(str(r) for r in roots(conn) if r != ROOT_INODE) or "0"
    links = conn.execute(
        "SELECT i.id, i.nlink, count(d.id) FROM inode i LEFT JOIN dentry d"
        f" ON d.ino = i.id AND d.died IS NULL AND d.parent NOT IN ({hidden})"
        " WHERE i.died IS NULL AND (i.mode & ?) != ?"
        " GROUP BY i.id HAVING i.nlink != count(d.id)",
        (stat.S_IFMT(0o170000), stat.S_IFDIR)).fetchall()
    if links:
        findings.append(Finding("namespace", (
            f"{len(links)} inode(s) have a link count other than their number of names: "
            f"{_listed([f'inode {r[0]} nlink {r[1]} names {r[2]}' for r in links])}")))
    return findings
