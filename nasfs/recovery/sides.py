"""`choose-side`: keep one half of a split array; the other half becomes stale.

A split array (nasfs.store.lineage) has members at two or more head epochs. Choosing a
side rewrites the labels of that side's given members only: their history gains every
epoch of the other sides, so those members read as stale from now on (never mixed in,
never read as current). The chosen side's labels already record the other slots as
failed (its degraded mount did). Nothing on the other side is read or written; it is
emptied and rebuilt onto afterwards, like any stale disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from nasfs.recovery.session import RecoveryError, RecoverySession
from nasfs.store.disks import disk_name, disk_names
from nasfs.store.label import MAX_HISTORY, write_label

log = logging.getLogger(__name__)


def choose_side(session: RecoverySession, slot: int, say: Callable[[str], None]) -> None:
    """Keep the side holding member index `slot` (disk slot + 1)."""
    sides = session.survey.sides
    if len(sides) < 2:
        raise RecoveryError("the array is not split, so there is no side to choose")
    winner = next((s for s in sides if slot in s.slots), None)
    if winner is None:
        raise RecoveryError(
            f"{disk_name(slot)} is on neither side of the split (sides: "
            + "; ".join(disk_names(s.slots) for s in sides) + ")")
    losers = [s for s in sides if s is not winner]
    # The chosen side keeps its epoch (so its disks left out of this session stay current)
    # and remembers every epoch of the other sides, which makes their disks stale.
    superseded: list[str] = list(winner.label.history)
    for side in losers:
        superseded += [*side.label.history, side.epoch]
    history = tuple(dict.fromkeys(superseded))[-MAX_HISTORY:]
    for path, lbl in winner.members:
        write_label(path, replace(lbl, history=history))
    session.resurvey()
    say(f"choose-side: kept {disk_names(winner.slots)}; "
        + "; ".join(f"{disk_names(s.slots)} are now stale: empty them and rebuild onto them "
                    "(rebuild --disk N --onto DIR)" for s in losers))
