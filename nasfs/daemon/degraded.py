"""Whether an array with a missing member may be mounted: only when `--degraded` says so.

Serving an array read-write with a member missing bumps its generation (nasfs.store: the
labels of the present members are rewritten), so the absent disk is out of date from then
on: when it comes back it is refused as stale and has to be rebuilt. That must never happen
by accident (a disk that was only slow to appear at boot, a typo in the member list), so it
takes `--degraded`, as with mdadm and btrfs. With it, the daemon says which disk it goes on
without and what that does to the disk. Disks are named as the user sees them: "disk N",
counting from 1.
"""

from __future__ import annotations

from nasfs import exitcodes
from nasfs.errors import NasfsError
from nasfs.store.assembly import Assembly
from nasfs.store.disks import disk_names
from nasfs.wire import codes


class MemberMissing(NasfsError):
    """A member of the array is missing and `--degraded` was not given: not mounted."""

    wire_code = codes.MEMBER_MISSING
    exit_code = exitcodes.DEGRADED


def _where(assembly: Assembly) -> str:
    """What became of the given directories that are not members: the likely missing disk."""
    notes = [f"{p} does not exist" for p in assembly.absent_dirs]
    notes += [f"{p} is empty" for p in assembly.empty_dirs]
    return f" ({'; '.join(notes)})" if notes else ""


def _effect(assembly: Assembly) -> str:
    missing = assembly.missing
    label = assembly.label
    one = len(missing) == 1
    them, they = ("it", "it") if one else ("them", "they")
    if set(missing) <= set(label.failed):
        # Already marked failed by an earlier degraded mount: no new generation now.
        return (f"{disk_names(missing)} {'is' if len(missing) == 1 else 'are'} already out of "
                f"date (generation {label.generation}): rebuild onto a new, empty disk to be "
                "protected again")
    return (f"the array moves to generation {label.generation + 1} without {them}, so "
            f"{disk_names(missing)} will be out of date (stale): if {they} come"
            f"{'s' if one else ''} back, {they} must be emptied and rebuilt")


def check_degraded(assembly: Assembly, *, allowed: bool) -> str | None:
    """None when the array is whole; a warning when degraded and `allowed`; else raise.

    Raises MemberMissing (exit code 4) naming the missing disks and what `--degraded` does.
    """
    if not assembly.missing:
        return None
    missing = assembly.missing
    verb = "is" if len(missing) == 1 else "are"
    what = (f"{disk_names(missing)} of array {assembly.label.array_uuid} {verb} "
            f"missing{_where(assembly)}")
    if not allowed:
        raise MemberMissing(f"{what}; not mounted. Bring the disk back, or mount with "
                            f"--degraded to go on without it: {_effect(assembly)}")
    return f"mounting degraded: {what}; {_effect(assembly)}"
