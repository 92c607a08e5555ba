"""Which array a list of member directories names, without assembling it.

Finding the daemon that serves an array needs only the array's UUID, and must keep working
while the member list is not one that would assemble: a disk listed in the config file came
back stale while the daemon runs degraded, say, or one is missing. Assembly (which refuses
such lists, rightly, before anything opens the array) stays the judge for opening it;
this only reads labels and takes the array most of the readable ones belong to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from nasfs.store.errors import AssemblyError
from nasfs.store.label import read_label


def array_uuid(members: Sequence[Path]) -> str:
    """The UUID of the array most of `members` carry a label of.

    With no readable label, or a tie between arrays, raises assembly's own error (which
    names the directory that is wrong).
    """
    counts: Counter[str] = Counter()
    for member in members:
        try:
            label = read_label(Path(member)) if Path(member).is_dir() else None
        except (AssemblyError, OSError, ValueError):
            label = None
        if label is not None:
            counts[label.array_uuid] += 1
    ranked = counts.most_common(2)
    if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        return ranked[0][0]
    from nasfs.store.assembly import assemble

    return assemble([Path(m) for m in members]).label.array_uuid
