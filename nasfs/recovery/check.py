"""`check`: everything that can be wrong, found without changing anything.

Members (missing, stale, foreign), metadata copies (damaged, stale, or disagreeing), the
namespace and references (nasfs.recovery.fscheck) and the stripes
(nasfs.recovery.storecheck). Returns findings; an empty list means clean.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from nasfs.recovery.copies import CopyInfo, best_copy, never_created, open_read_only
from nasfs.recovery.findings import Finding
from nasfs.recovery.fscheck import check_namespace, check_references
from nasfs.recovery.session import RecoveryError, RecoverySession
from nasfs.recovery.storecheck import check_stripes
from nasfs.store.disks import disk_name

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def check_members(session: RecoverySession) -> list[Finding]:
    findings = [Finding("members", f"{f.path}: {f.state}, {f.reason}")
                for f in session.survey.findings if f.state not in ("ok", "empty")]
    for slot in session.survey.missing:
        findings.append(Finding("members", (
            f"{disk_name(slot)} is missing: the array runs degraded until it is rebuilt"
            if session.survey.assemblable else f"{disk_name(slot)} is missing")))
    return findings


def _table_counts(copy: CopyInfo) -> dict[str, int]:
    conn = open_read_only(copy.path)
    try:
        tables = [str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
                for t in tables}
    finally:
        conn.close()


def check_copies(session: RecoverySession) -> list[Finding]:
    findings: list[Finding] = []
    for database, copies in session.copies().items():
        if never_created(copies):
            continue
        for c in copies:
            if c.problem:
                findings.append(Finding("metadata", f"{database}.db on {disk_name(c.slot)}: "
                                                    f"{c.problem}"))
        best = best_copy(copies)
        if best is None:
            findings.append(Finding("metadata", f"no usable copy of {database}.db is left"))
            continue
        current = [c for c in copies if c.usable and c.generation == best.generation]
        try:
            counts = {c.slot: _table_counts(c) for c in current}
        except sqlite3.Error as exc:
            findings.append(Finding("metadata", f"{database}.db cannot be compared: {exc}"))
            continue
        reference = counts[best.slot]
        for slot, seen in counts.items():
            if seen != reference:
                differ = sorted(t for t in set(seen) | set(reference)
                                if seen.get(t) != reference.get(t))
                findings.append(Finding("metadata", (
                    f"{database}.db on {disk_name(slot)} has the same generation as "
                    f"{disk_name(best.slot)} but different rows in {', '.join(differ)}")))
    return findings


def run_check(session: RecoverySession, *, full: bool, say: Say) -> list[Finding]:
    """All checks, telling progress through `say`; returns the findings."""
    findings = check_members(session)
    say(f"members: {len(session.survey.present)} of {session.member_count} usable")
    findings += check_copies(session)
    say("metadata copies: compared")
    try:
        with session.read_metadata() as conn:
            findings += check_namespace(conn)
            say("namespace: walked")
            findings += check_references(conn)
            say("references: counted")
    except RecoveryError as exc:
        findings.append(Finding("metadata", f"namespace not checked: {exc}"))
    except sqlite3.Error as exc:
        findings.append(Finding("metadata", f"namespace not checked: fs.db unreadable ({exc})"))
    try:
        store_copy = session.best("store")
    except RecoveryError as exc:
        findings.append(Finding("store", f"stripes not checked: {exc}"))
        return findings
    conn = open_read_only(store_copy.path)
    try:
        conn.execute("ATTACH DATABASE ? AS store", (f"file:{store_copy.path}?mode=ro",))
        last = [0]

        def progress(done: int, total: int) -> None:
            if done == total or done - last[0] >= 256:
                last[0] = done
                say(f"stripes: {done} of {total} read")

        stripe_findings, n = check_stripes(conn, session.present, session.member_count,
                                           session.nparity, full=full, progress=progress)
        findings += stripe_findings
        if n == 0:
            say("stripes: none stored yet")
    finally:
        conn.close()
    return findings
