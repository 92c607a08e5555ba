"""Which labels are current: epochs, stale members and the halves of a split array.

Every membership change starts a new epoch (nasfs.store.label.ArrayLabel.next_epoch) whose
label remembers the epochs before it. Among the labels of one array given together:
- a label whose epoch is in another label's history missed a change: it is *stale*;
- the *heads* are the epochs no other given label has moved past. One head: the array is
  whole (stale members aside). Several heads: parts of the array were used apart (each
  mounted degraded without the others) and both went on writing. Neither can be trusted
  to hold the other's writes, so nothing is mixed: assembly refuses, and the operator
  keeps one side with the recovery shell's `choose-side` (which makes the other stale).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nasfs.store.disks import disk_names
from nasfs.store.label import ArrayLabel


@dataclass(frozen=True)
class Side:
    """The members at one head epoch."""

    epoch: str
    label: ArrayLabel  # one member's label, with the history of all of them merged
    members: tuple[tuple[Path, ArrayLabel], ...]

    @property
    def slots(self) -> list[int]:
        return sorted(lbl.index for _, lbl in self.members)

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.label.epoch_started))
        return (f"{disk_names(self.slots)} ({', '.join(str(p) for p, _ in self.members)}; "
                f"generation {self.label.generation}, used without the others since {started})")


def heads(labelled: Sequence[tuple[Path, ArrayLabel]]) -> list[Side]:
    """The sides at epochs no other given label has moved past, newest generation first.

    Members of one epoch may remember different histories (`choose-side` adds the losing
    sides' epochs to the labels of the chosen side's disks it was given, not to disks of
    that side left out); the history of an epoch is the union of what its members say.
    """
    by_epoch: dict[str, list[tuple[Path, ArrayLabel]]] = {}
    for item in labelled:
        by_epoch.setdefault(item[1].epoch, []).append(item)
    merged = {e: tuple(dict.fromkeys(h for _, lbl in members for h in lbl.history))
              for e, members in by_epoch.items()}
    sides = []
    for epoch, members in by_epoch.items():
        if any(epoch in merged[other] for other in by_epoch if other != epoch):
            continue
        label = replace(members[0][1], history=merged[epoch])
        sides.append(Side(epoch, label, tuple(members)))
    return sorted(sides, key=lambda s: (-s.label.generation, s.slots))


def split_message(sides: Sequence[Side], array_uuid: str) -> str:
    """The refusal for an array whose parts were used apart (one line)."""
    named = "; ".join(f"side {n}: {side.describe()}" for n, side in enumerate(sides, 1))
    return (
        f"array {array_uuid} was split: its disks were mounted in separate groups and each "
        f"group was written without the other ({named}); refusing to mix them. Keep one "
        "side with the recovery shell (nasfs recovery --array ...), command "
        f"'choose-side DISK' naming a disk of the side to keep (e.g. 'choose-side "
        f"{sides[0].slots[0] + 1}'); the other side's disks then have to be emptied and "
        "rebuilt"
    )
