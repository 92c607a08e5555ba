"""Assembling an array from member directories given in any order.

Reads every label and decides which directories form the array, which slots are missing,
and which directories are empty replacements (rebuild targets). Anything doubtful is
refused with a message naming the directory: a member of another array, a stale member
(one that missed a membership change, nasfs.store.lineage), the halves of a split array, a
duplicate, a stranger directory, or fewer members than parity can cover. Members behind
the catalog (put back from an old copy) are found next, by nasfs.store.currency.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nasfs.store.disks import disk_name, disk_names
from nasfs.store.errors import AssemblyError, SplitArrayError, StaleMemberError
from nasfs.store.label import ArrayLabel, looks_emptied, read_label
from nasfs.store.lineage import heads, split_message

log = logging.getLogger(__name__)


@dataclass
class Assembly:
    """The outcome of assembling: the newest label and where each present slot lives."""

    label: ArrayLabel  # the newest label (its index/member_uuid are of one present member)
    present: dict[int, Path]
    missing: list[int]
    empty_dirs: list[Path] = field(default_factory=list)  # emptied members / rebuild targets
    absent_dirs: list[Path] = field(default_factory=list)  # given paths that do not exist


def assemble(members: list[Path]) -> Assembly:
    labelled: list[tuple[Path, ArrayLabel]] = []
    empty_dirs: list[Path] = []
    absent: list[Path] = []
    seen_real: dict[str, Path] = {}
    for member in members:
        member = Path(member)
        real = os.path.realpath(member)
        if real in seen_real:
            raise AssemblyError(f"{member} is given twice (same directory as {seen_real[real]})")
        seen_real[real] = member
        if not member.exists():
            absent.append(member)
            continue
        if not member.is_dir():
            raise AssemblyError(f"{member} is not a directory")
        label = read_label(member)
        if label is None:
            if looks_emptied(member):
                empty_dirs.append(member)
                continue
            raise AssemblyError(f"{member} is not a nasfs array member (it has no nasfs label)")
        labelled.append((member, label))
    if not labelled:
        raise AssemblyError("none of the given directories is a member of a nasfs array")

    arrays = Counter(lbl.array_uuid for _, lbl in labelled)
    (main_uuid, main_count), *others = arrays.most_common()
    if others and others[0][1] == main_count:
        raise AssemblyError(
            "the given directories belong to different arrays in equal numbers "
            f"({', '.join(arrays)}); give only the members of one array"
        )
    for member, lbl in labelled:
        if lbl.array_uuid != main_uuid:
            raise AssemblyError(
                f"{member} is a member of another array ({lbl.array_uuid}), "
                f"not of array {main_uuid}"
            )

    sides = heads(labelled)
    if len(sides) > 1:
        raise SplitArrayError(split_message(sides, main_uuid))
    newest = sides[0].label
    present: dict[int, Path] = {}
    for member, lbl in labelled:
        if lbl.index in present:
            raise AssemblyError(
                f"{member} and {present[lbl.index]} both claim {disk_name(lbl.index)} of "
                f"array {main_uuid}; one of them is a duplicate"
            )
        if lbl.epoch != newest.epoch or lbl.member_uuid != newest.members[lbl.index]:
            raise StaleMemberError(
                f"{member} ({disk_name(lbl.index)}) is a stale member of array {main_uuid} "
                f"(generation {lbl.generation}, the array is at generation "
                f"{newest.generation}); it missed writes: leave it out, or empty it and "
                "rebuild onto it"
            )
        if lbl.member_count != newest.member_count or lbl.nparity != newest.nparity:
            raise AssemblyError(f"{member} disagrees with the other members about the geometry")
        present[lbl.index] = member
    missing = [i for i in range(newest.member_count) if i not in present]
    if len(missing) > newest.nparity:
        raise AssemblyError(
            f"too few members of array {main_uuid}: {len(present)} of {newest.member_count} "
            f"present, parity {newest.nparity} covers at most {newest.nparity} missing "
            f"(missing: {disk_names(missing)})"
        )
    return Assembly(newest, present, missing, empty_dirs, absent)
