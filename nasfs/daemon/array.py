"""The parts of one open array, built once at open by the daemon and handed to the method
groups, typed: what used to be five loose `Any` attributes of the daemon.

    MountedArray  the store and the policy service (open for as long as the daemon serves),
                  and the Volume while the filesystem is mounted
    Volume        the filesystem with what is built on it: the trash, the policy gate in
                  front of the mount, the snapshots; made together, closed together

A method that needs the mounted filesystem asks `require_volume`, which refuses with
NotMounted when the daemon serves without a mount (or has already closed it).
"""

from __future__ import annotations

from dataclasses import dataclass

from nasfs.errors import NasfsError
from nasfs.fs import Filesystem
from nasfs.fs.snapshots import SnapshotManager
from nasfs.policy import PolicyService
from nasfs.policy.gate import Gate
from nasfs.store import Store
from nasfs.trash import Trash
from nasfs.wire import codes


class NotMounted(NasfsError):
    """The method needs the mounted filesystem and this daemon has none."""

    wire_code = codes.NOT_MOUNTED


class ArrayNotOpen(NasfsError):
    """A request came while the daemon had no array open (starting or stopping). Answers
    `policy_unavailable`, the code this case has always had on the wire."""

    wire_code = codes.POLICY_UNAVAILABLE


@dataclass(frozen=True)
class Volume:
    """The mounted filesystem and the parts over it."""

    fs: Filesystem
    trash: Trash
    gate: Gate

    @property
    def snapshots(self) -> SnapshotManager:
        return self.fs.snapshots


@dataclass
class MountedArray:
    """One open array: see the module docstring."""

    uuid: str
    store: Store
    policy: PolicyService
    volume: Volume | None = None  # None: served without a mount, or the mount is closed

    def require_volume(self, why: str) -> Volume:
        """The volume; NotMounted saying `why` (e.g. "so there is nothing to flush")."""
        if self.volume is None:
            raise NotMounted(f"the array is not mounted, {why}")
        return self.volume
