"""Refusing a mistyped rebuild target before anything is written.

Kept apart from the rebuild itself so that the store's upkeep interface can run the check
under the store's lock (nasfs.store.upkeep) without the two modules naming each other: the
check is handed the member count and a way to re-probe the present members, nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nasfs.store.disks import disk_name
from nasfs.store.errors import RebuildArgumentError
from nasfs.store.label import looks_emptied, read_label


def check_target(member_count: int, probe_present: Callable[[], dict[int, Path]], index: int,
                 onto: Path) -> None:
    """Refuse a mistyped rebuild before anything is written (RebuildArgumentError).

    `probe_present` re-probes the members and returns the present ones (slot -> directory).
    The target must already exist: a rebuild never creates its directory, so a typo cannot
    put a member on the system disk instead of the new disk's mount point.
    """
    if not 0 <= index < member_count:
        raise RebuildArgumentError(
            f"there is no {disk_name(index)}: the array has disks 1 to {member_count}")
    # Re-probe instead of trusting the cached set: a member whose disk vanished since the
    # last write is still "present" until something looks.
    present = probe_present()
    if index in present:
        raise RebuildArgumentError(
            f"{disk_name(index)} is present ({present[index]}); nothing to rebuild")
    real = os.path.realpath(onto)
    for i, path in present.items():
        if os.path.realpath(path) == real:
            raise RebuildArgumentError(f"{onto} is {disk_name(i)} of this array already")
    if not onto.is_absolute():
        raise RebuildArgumentError(f"{onto} is not an absolute path; name the new directory "
                                   "from /")
    if not onto.is_dir():
        what = "is not a directory" if onto.exists() else "does not exist"
        raise RebuildArgumentError(f"{onto} {what}; mount the new disk there (or create the "
                                   "directory) first")
    if read_label(onto) is not None or not looks_emptied(onto):
        raise RebuildArgumentError(f"{onto} is not empty; a rebuild needs an empty directory")
