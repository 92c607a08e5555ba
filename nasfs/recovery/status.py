"""`status` and `metadata`: what the shell sees, as plain lines for a serial console."""

from __future__ import annotations

import logging
import sqlite3

from nasfs.recovery import catalog_read
from nasfs.recovery.copies import never_created, open_read_only
from nasfs.recovery.session import RecoveryError, RecoverySession
from nasfs.store.disks import disk_name

log = logging.getLogger(__name__)


def member_lines(session: RecoverySession) -> list[str]:
    survey = session.survey
    label = survey.label
    assert label is not None
    state = ("split (its sides were used apart; 'choose-side DISK' keeps one)"
             if len(survey.sides) > 1 else
             "healthy" if not survey.missing else
             "degraded" if survey.assemblable else "failed (too many members missing)")
    lines = [f"array {label.array_uuid}: {state}; {label.member_count} disks, parity "
             f"{label.nparity}, generation {label.generation}"]
    for f in survey.findings:
        where = disk_name(f.slot) if f.slot is not None else "not a disk of this array"
        lines.append(f"  {f.state:<10} {f.path} ({where}{'' if f.state == 'ok' else ': '}"
                     f"{'' if f.state == 'ok' else f.reason})")
    for n, side in enumerate(survey.sides if len(survey.sides) > 1 else [], 1):
        lines.append(f"  side {n}: {side.describe()}")
    for slot in survey.missing:
        lines.append(f"  {'missing':<10} {disk_name(slot)} (no directory given holds it)")
    return lines


def copy_lines(session: RecoverySession) -> list[str]:
    lines = []
    for database, copies in session.copies().items():
        if never_created(copies):
            lines.append(f"{database}.db: not created on this array yet")
            continue
        lines.append(f"{database}.db:")
        for c in copies:
            gen = "-" if c.generation is None else str(c.generation)
            lines.append(f"  {disk_name(c.slot)}: generation {gen:>6}  "
                         f"{c.problem or 'ok'}  ({c.path})")
    return lines


def catalog_lines(session: RecoverySession) -> list[str]:
    try:
        copy = session.best("store")
    except RecoveryError as exc:
        return [f"store catalog: {exc}"]
    try:
        conn = open_read_only(copy.path)
        try:
            conn.execute("ATTACH DATABASE ? AS store", (f"file:{copy.path}?mode=ro",))
            s = catalog_read.summary(conn)
            rebuild = catalog_read.state(conn, "rebuild")
            scrub = catalog_read.state(conn, "scrub")
            last = catalog_read.state(conn, "last_scrub")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"store catalog: unreadable ({exc})"]
    lines = [f"store catalog ({disk_name(copy.slot)}): {s['segments']} segments, "
             f"{s['stripes']} stripes, {s['chunks']} chunks ({s['live_chunks']} in use), "
             f"{s['live_bytes']} bytes in use, {s['data_bytes'] - s['live_bytes']} bytes "
             f"dead, {s['stored_bytes']} bytes on disk"]
    if rebuild:
        lines.append(f"  a rebuild is unfinished: {rebuild} (run 'rebuild' again to resume)")
    if scrub:
        lines.append(f"  a scrub is unfinished: {scrub} ('scrub --resume' goes on)")
    if last:
        lines.append(f"  last scrub: {last}")
    return lines
