"""Which of the given directories can serve as members, and why the others cannot.

Unlike store assembly, which refuses the whole array at the first doubtful directory, this
survey classifies every directory (ok, missing, empty, stale, foreign, stranger, unreadable,
duplicate) and keeps going, so the shell can start on whatever is usable and say why the
rest was left out.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nasfs.store.assembly import Assembly
from nasfs.store.currency import members_behind
from nasfs.store.disks import disk_name
from nasfs.store.errors import AssemblyError
from nasfs.store.label import ArrayLabel, looks_emptied, read_label
from nasfs.store.lineage import Side, heads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberFinding:
    """The verdict on one given directory."""

    path: Path
    state: str  # ok | missing | empty | stale | split | foreign | stranger | unreadable
    #             | duplicate
    slot: int | None
    reason: str


@dataclass
class MemberSurvey:
    """Every given directory judged, and the array they mostly belong to."""

    findings: list[MemberFinding]
    label: ArrayLabel | None  # the newest label of the main array (None: no member found)
    present: dict[int, Path] = field(default_factory=dict)  # usable members by slot
    sides: list[Side] = field(default_factory=list)  # several: split (choose-side picks)

    @property
    def array_uuid(self) -> str | None:
        return None if self.label is None else self.label.array_uuid

    @property
    def missing(self) -> list[int]:
        if self.label is None:
            return []
        return [i for i in range(self.label.member_count) if i not in self.present]

    @property
    def assemblable(self) -> bool:
        """Whether parity covers the missing slots (the store can be opened for writing)."""
        return self.label is not None and len(self.missing) <= self.label.nparity

    @property
    def empty_dirs(self) -> list[Path]:
        return [f.path for f in self.findings if f.state == "empty"]


def survey_members(paths: Sequence[Path]) -> MemberSurvey:
    """Judge every directory; never raises for a bad member (it is reported instead)."""
    findings: list[MemberFinding] = []
    labelled: list[tuple[Path, ArrayLabel]] = []
    seen: set[str] = set()
    for path in (Path(p) for p in paths):
        real = os.path.realpath(path)
        if real in seen:
            findings.append(MemberFinding(path, "duplicate", None, "given twice"))
            continue
        seen.add(real)
        if not path.exists():
            findings.append(MemberFinding(path, "missing", None, "the directory does not exist"))
            continue
        if not path.is_dir():
            findings.append(MemberFinding(path, "stranger", None, "not a directory"))
            continue
        try:
            label = read_label(path)
        except AssemblyError as exc:
            findings.append(MemberFinding(path, "unreadable", None, str(exc)))
            continue
        if label is None:
            if looks_emptied(path):
                findings.append(MemberFinding(path, "empty", None,
                                              "no label (empty: a possible rebuild target)"))
            else:
                findings.append(MemberFinding(path, "stranger", None,
                                              "has files but no nasfs label"))
            continue
        labelled.append((path, label))
    if not labelled:
        return MemberSurvey(findings, None)

    arrays = Counter(lbl.array_uuid for _, lbl in labelled)
    # The array most directories belong to; on a tie, the one with the newest label.
    main = max(arrays, key=lambda u: (arrays[u], max(lbl.generation for _, lbl in labelled
                                                     if lbl.array_uuid == u)))
    ours = [(path, lbl) for path, lbl in labelled if lbl.array_uuid == main]
    sides = heads(ours)
    newest = sides[0].label
    if len(sides) > 1:
        # Parts of the array were used apart: nothing is usable until one side is chosen.
        for path, lbl in labelled:
            if lbl.array_uuid != main:
                findings.append(MemberFinding(path, "foreign", lbl.index,
                                              f"a member of another array ({lbl.array_uuid})"))
                continue
            side = next((n for n, s in enumerate(sides, 1) if s.epoch == lbl.epoch), None)
            findings.append(MemberFinding(
                path, "split" if side else "stale", lbl.index,
                f"{disk_name(lbl.index)}, side {side} of a split array (choose-side keeps one)"
                if side else f"{disk_name(lbl.index)}: behind both sides of a split array"))
        return MemberSurvey(findings, newest, {}, sides)
    present: dict[int, Path] = {}
    for path, lbl in labelled:
        if lbl.array_uuid != main:
            findings.append(MemberFinding(path, "foreign", lbl.index,
                                          f"a member of another array ({lbl.array_uuid})"))
        elif lbl.epoch != newest.epoch or lbl.member_uuid != newest.members[lbl.index]:
            findings.append(MemberFinding(
                path, "stale", lbl.index,
                f"{disk_name(lbl.index)} at generation {lbl.generation}, the array is at "
                f"{newest.generation}: it missed writes (empty it and rebuild onto it)"))
        elif lbl.member_count != newest.member_count or lbl.nparity != newest.nparity:
            findings.append(MemberFinding(path, "stale", lbl.index,
                                          "its label disagrees about the geometry"))
        elif lbl.index in present:
            findings.append(MemberFinding(path, "duplicate", lbl.index,
                                          f"claims {disk_name(lbl.index)} like "
                                          f"{present[lbl.index]}"))
        else:
            present[lbl.index] = path
            findings.append(MemberFinding(path, "ok", lbl.index, disk_name(lbl.index)))
    behind = members_behind(Assembly(newest, present, []))
    for i, why in behind.items():
        path = present.pop(i)
        findings = [MemberFinding(path, "stale", i, why) if f.path == path else f
                    for f in findings]
    return MemberSurvey(findings, newest, present, sides)
