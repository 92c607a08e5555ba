"""The metadata part of a scrub: verify every copy of a replicated database, whole, and
rewrite the damaged ones from a sound copy.

Two ways in:
- `scrub_open(db, as_owner)`: a database that is open (the daemon). Verification runs in the
  calling (worker) thread on its own connections; the repair runs through `as_owner`, which
  calls a function in the owner's context (its thread, or under its lock), because only the
  owner may change which copy is the primary (nasfs.db.replicated, thread rule).
- `scrub_closed(name, paths)`: copies nobody has open (the offline `nasfs scrub`).

Both report per database in a `MetadataScrub`: how many copies were checked, what was
damaged, what was rewritten and what could not be.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from nasfs.db import checksums
from nasfs.db.replicated import ReplicatedDB, copy_database

log = logging.getLogger(__name__)

T = TypeVar("T")
OwnerCall = Callable[[Callable[[], T]], T]


@dataclass
class MetadataScrub:
    """What a scrub found in the copies of the metadata databases."""

    copies_checked: int = 0
    damaged: list[str] = field(default_factory=list)  # "fs.db copy PATH: problem"
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)  # damaged and still damaged

    def add(self, other: MetadataScrub) -> None:
        self.copies_checked += other.copies_checked
        self.damaged += other.damaged
        self.repaired += other.repaired
        self.unrepaired += other.unrepaired


def _label(name: str, path: Path, what: str) -> str:
    return f"{name}.db copy {path}: {what}"


def scrub_open(db: ReplicatedDB, as_owner: OwnerCall[dict[Path, str]], *,
               repair: bool = True) -> MetadataScrub:
    """Verify every copy of the open `db`; with `repair`, rewrite the damaged ones."""
    report = MetadataScrub()
    found = db.verify_copies()
    report.copies_checked = len(found)
    damaged = {path: problems for path, problems in found.items() if problems}
    for path, problems in damaged.items():
        report.damaged.append(_label(db.name, path, "; ".join(problems[:3])))
    if not damaged:
        return report
    if not repair:
        report.unrepaired += [_label(db.name, p, "not repaired (--no-repair)") for p in damaged]
        return report
    outcome = as_owner(lambda: db.repair_copies(list(damaged)))
    for path in damaged:
        why = outcome.get(path, "not repaired")
        if why:
            report.unrepaired.append(_label(db.name, path, why))
            continue
        problems = checksums.verify(path)
        if problems:
            report.unrepaired.append(_label(db.name, path, "still damaged after the rewrite: "
                                            + "; ".join(problems[:3])))
        else:
            report.repaired.append(_label(db.name, path, "rewritten from a sound copy"))
    return report


def _generation(path: Path) -> int:
    conn = checksums.connect(path)
    try:
        row = conn.execute("SELECT generation FROM _replica WHERE id = 1").fetchone()
    finally:
        conn.close()
    return -1 if row is None else int(row[0])


def scrub_closed(name: str, paths: Sequence[Path], *, repair: bool = True) -> MetadataScrub:
    """Verify the copies at `paths` (nobody has them open); rewrite damaged ones from the
    newest sound copy. Missing copies are left to the next open, which creates them."""
    report = MetadataScrub()
    found = {p: checksums.verify(p) for p in paths if p.exists()}
    report.copies_checked = len(found)
    damaged = [p for p, problems in found.items() if problems]
    for p in damaged:
        report.damaged.append(_label(name, p, "; ".join(found[p][:3])))
    if not damaged:
        return report
    sound = []
    for p, problems in found.items():
        if problems:
            continue
        try:
            sound.append((_generation(p), p))
        except sqlite3.Error as exc:
            report.damaged.append(_label(name, p, checksums.describe(exc)))
            damaged.append(p)
    if not repair or not sound:
        why = "not repaired (--no-repair)" if not repair else "no sound copy to repair it from"
        report.unrepaired += [_label(name, p, why) for p in damaged]
        return report
    source_path = max(sound)[1]
    source = checksums.connect(source_path)
    try:
        for p in damaged:
            try:
                copy_database(source, p)
            except (OSError, sqlite3.Error) as exc:
                report.unrepaired.append(_label(name, p, f"could not be rewritten: {exc}"))
                continue
            log.warning("%s.db copy %s: damaged, rewritten from %s", name, p, source_path)
            report.repaired.append(_label(name, p, f"rewritten from {source_path}"))
    finally:
        source.close()
    return report
