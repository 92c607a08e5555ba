"""What `nasfs mkfs --force` may overwrite: stale and foreign directories, never a live array.

`--force` exists to reuse a disk whose old nasfs data is of no use: a member of an array
that is gone, a stale member (the array went on without it), a disk from another box. It
must never wipe a member of an array that is in use (its lock is held: a daemon serves it,
or a command has it open) or of an array this box knows and that the directory is still a
current member of (the config file's array, a running daemon's array). Such a directory is
refused with exit code 5 (busy), naming the array and what holds it.

For the time mkfs writes, it holds the array lock of every array whose label it is about
to overwrite, so that no daemon can start on one of them in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from nasfs import exitcodes, registry
from nasfs.config import Config
from nasfs.errors import NasfsError
from nasfs.store.disks import disk_name
from nasfs.store.errors import AssemblyError
from nasfs.store.label import ArrayLabel, read_label
from nasfs.wire import codes


class MemberInUse(NasfsError):
    """mkfs was given a current member of an array that is in use or known here."""

    wire_code = codes.MEMBER_IN_USE
    exit_code = exitcodes.BUSY


def _label(path: Path) -> ArrayLabel | None:
    try:
        return read_label(path) if path.is_dir() else None
    except (AssemblyError, OSError, ValueError):
        return None  # unreadable or damaged: nothing that assembles, so foreign


def _newest_known(config: Config) -> dict[str, tuple[ArrayLabel, str]]:
    """array UUID → (its newest label, why it may not be overwritten, as a phrase)."""
    known: dict[str, tuple[ArrayLabel, str]] = {}
    sources = [(Path(m), f"is in use by the daemon pid {record.pid} (mounted at "
                         f"{record.mountpoint}): unmount it first")
               for record in registry.live_records(config.run_dir) for m in record.members]
    sources += [(Path(m), f"is this box's array in {config.source}: take it out of that "
                          "file first if it is really to go")
                for m in config.members]
    for path, why in sources:
        label = _label(path)
        if label is None:
            continue
        best = known.get(label.array_uuid)
        if best is None or label.generation > best[0].generation:
            known[label.array_uuid] = (label, why)
    return known


def _is_current(label: ArrayLabel, newest: ArrayLabel) -> bool:
    """Still a member the array counts on (not stale, not replaced by a rebuild)."""
    return (label.generation >= newest.generation
            and newest.members[label.index] == label.member_uuid)


@contextlib.contextmanager
def mkfs_allowed(members: Sequence[Path], config: Config) -> Iterator[None]:
    """Raise MemberInUse unless every labelled directory may be overwritten; while the
    block runs, hold the lock of every array being overwritten."""
    labelled = [(Path(m), label) for m in members if (label := _label(Path(m))) is not None]
    known = _newest_known(config)
    locks: dict[str, registry.ArrayLock] = {}
    try:
        for member, label in labelled:
            newest, why = known.get(label.array_uuid, (None, ""))
            if newest is not None and not _is_current(label, newest):
                continue  # stale: its array went on without it
            if newest is not None:
                raise MemberInUse(
                    f"{member} is {disk_name(label.index)} of array {label.array_uuid}, "
                    f"which {why}; mkfs --force never overwrites a current member of an "
                    "array in use or known here")
            if label.array_uuid in locks:
                continue
            try:
                locks[label.array_uuid] = registry.ArrayLock.acquire(
                    config.run_dir, label.array_uuid, "nasfs mkfs --force",
                    what=f"array {label.array_uuid}")
            except registry.ArrayBusy:
                holder = registry.lock_holder(
                    registry.lock_path(config.run_dir, label.array_uuid))
                who = f"pid {holder[0]} ({holder[1]})" if holder else "another process"
                raise MemberInUse(
                    f"{member} is {disk_name(label.index)} of array {label.array_uuid}, "
                    f"which is in use by {who}; mkfs --force never overwrites a member of "
                    "an array in use (unmount it first)") from None
        yield
    finally:
        for lock in locks.values():
            lock.release()
