"""Space accounting of an array: what each member can still take, the reserve, and charges.

Why it exists: data is buffered in memory before it reaches the store, so a write that
returned success must already have its space. Buffered data is *charged* here when it is
written (in raw member bytes: data shards, parity shards and 4 KiB shard padding), and the
charge is dropped once the store holds the data (statvfs then shows it as used). A charge
that would not fit outside the reserve fails with StoreFullError (ENOSPC) before anything
is acknowledged.

The reserve is space files may never take; only metadata commits, the logs, trash moves,
deletions, purges and compaction use it, so a full array can still delete, unmount, mount
and compact. Its size, in usable (after-parity) bytes: 1/32 of usable space, at least
RESERVE_FLOOR and at most RESERVE_CAP, but never more than a quarter of usable space
(tiny arrays). docs/space.md says the same for NAS owners.

How member space is measured: statvfs of every present member. Members that sit on the same
filesystem (same st_dev) share its free space, so each gets its share of that filesystem
(free / members on it) instead of the whole: two members on one disk are not two disks.
Stripes rotate over all members, so every member takes 1/n of the raw bytes written; the
member with the least room left decides how much more the array can take.

Where the measuring happens: never on the caller's thread in the common case. statvfs of
a member can block (a dying disk, a filesystem busy with another thread's fsync), and the
callers that must not block are on the filesystem's trio thread (every charge of a write,
every new name, every `df`). So a watcher thread measures every REFRESH_S, and at once when
a put or a compaction says the members changed; charges and figures use its last
measurement. To stay safe between measurements, bytes given back (`uncharge`) or written
(`changed(raw)`) after the last measurement *began* still count as used: the figures are
never more generous than the disks (at worst a moment too strict). The one measurement on
the caller's thread: a charge that the last measurement would refuse looks again before it
says no (a refusal loses a write; only near full).

Thread-safe: charges come from the trio thread, refreshes after puts from worker threads.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nasfs.store.errors import StoreFullError
from nasfs.store.geometry import shape_for

RESERVE_FRACTION = 1 / 32
RESERVE_FLOOR = 256 << 20
RESERVE_CAP = 32 << 30
RESERVE_MAX_FRACTION = 1 / 4
REFRESH_S = 1.0  # the watcher measures at least this often
MIN_REFRESH_S = 0.02  # and at most this often (members change with every put)
# Room a new inode, directory entry or xattr must find outside the reserve (per member),
# so creating names cannot eat the reserve that deletions need.
NAME_COST_PER_MEMBER = 4096


def reserve_for(usable_bytes: int) -> int:
    """The reserve, in usable bytes, of an array of `usable_bytes` (see module docstring)."""
    wanted = min(max(int(usable_bytes * RESERVE_FRACTION), RESERVE_FLOOR), RESERVE_CAP)
    return min(wanted, int(usable_bytes * RESERVE_MAX_FRACTION))


@dataclass(frozen=True)
class MemberShare:
    """One present member's part of its filesystem."""

    index: int
    device: int  # st_dev of the member directory
    size_bytes: int  # filesystem size / members on that filesystem
    free_bytes: int  # filesystem space available / members on that filesystem
    sharing: int  # how many present members sit on this filesystem (1: a disk of its own)


@dataclass(frozen=True)
class SpaceFigures:
    """Capacity in usable bytes (data after parity), as df and status show it."""

    raw_bytes: int  # distinct member filesystems' sizes (missing members as the average)
    usable_bytes: int  # after parity; the smallest member's share decides
    reserve_bytes: int  # of usable, kept for metadata, logs, deletions and compaction
    free_bytes: int  # what files can still take: outside the reserve, buffered data counted
    reserve_free_bytes: int  # how much of the reserve is still unused
    buffered_bytes: int  # charged (buffered, not yet stored) data, in usable bytes
    filesystems: int  # distinct filesystems under the present members
    names_free: int  # new files/folders that still fit (NAME_COST_PER_MEMBER each)
    names_total: int  # names the space for files could hold when empty (a fixed figure)


def member_shares(present: Mapping[int, Path]) -> list[MemberShare]:
    """statvfs of every present member, shared out between members on one filesystem."""
    stats: dict[int, tuple[int, int, int]] = {}
    for index, path in present.items():
        try:
            dev = os.stat(path).st_dev
            st = os.statvfs(path)
        except OSError:
            continue  # a vanished member: the watch fails it; count it as absent here
        stats[index] = (dev, st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)
    per_dev = Counter(dev for dev, _, _ in stats.values())
    return [
        MemberShare(i, dev, size // per_dev[dev], free // per_dev[dev], per_dev[dev])
        for i, (dev, size, free) in sorted(stats.items())
    ]


class SpaceAccount:
    """Charges of buffered data against what the members can still take."""

    def __init__(self, present: Mapping[int, Path], member_count: int, nparity: int) -> None:
        self._present = present  # the store's live dict: members failing drop out of it
        self.member_count = member_count
        self.nparity = nparity
        self.k = member_count - nparity
        self._lock = threading.Lock()
        self._charged = 0  # raw bytes
        # Raw bytes given back or written so far (only grows), and its value when the last
        # measurement began: the difference is on the disks but maybe not in `_shares`.
        self._settled = 0
        self._measured_at_settled = 0
        self._shares: list[MemberShare] | None = None  # the last measurement
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -------------------------------------------------------------- costing

    def cost(self, length: int) -> int:
        """Raw member bytes a chunk of `length` bytes takes at most (alone in its stripe)."""
        if length <= 0:
            return 0
        shape = shape_for(length, self.k)
        return (shape.width + self.nparity) * shape.shard_size

    # ------------------------------------------------------------ measuring

    def start(self) -> None:
        """Measure now, then keep measuring in a watcher thread until `stop`."""
        self.measure()
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="nasfs-space",
                                             daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(REFRESH_S)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.measure()
            self._stop.wait(MIN_REFRESH_S)

    def measure(self) -> None:
        """statvfs of every present member now (blocking: the watcher's job)."""
        with self._lock:
            mark = self._settled
        shares = member_shares(dict(self._present))
        with self._lock:
            if mark >= self._measured_at_settled:  # a later measurement may have finished
                self._shares = shares
                self._measured_at_settled = mark

    def _ensure_measured(self) -> None:
        if self._shares is None:
            self.measure()  # only before `start` (a store that was never opened fully)

    def figures(self) -> SpaceFigures:
        """The figures from the last measurement (no I/O: safe on the trio thread)."""
        self._ensure_measured()
        with self._lock:
            assert self._shares is not None
            shares, charged = self._shares, self._charged
            unmeasured = self._settled - self._measured_at_settled
        return self._figures(shares, charged, unmeasured)

    def fresh_figures(self) -> SpaceFigures:
        """Figures measured now (blocking: call from a worker thread)."""
        self.measure()
        return self.figures()

    def _figures(self, shares: list[MemberShare], charged: int,
                 unmeasured: int = 0) -> SpaceFigures:
        n, k = self.member_count, self.k
        if not shares:
            return SpaceFigures(0, 0, 0, 0, 0, charged * k // n, 0, 0, 0)
        raw = sum(s.size_bytes for s in shares) * n // len(shares)
        usable = min(s.size_bytes for s in shares) * k
        reserve = reserve_for(usable)
        per_member_reserve = -(-reserve // k)
        # Bytes stored since the measurement began are off the members' free space.
        least = min(s.free_bytes for s in shares) - -(-unmeasured // n)
        outside = max(0, least - per_member_reserve) * n - charged
        free = max(0, outside) * k // n
        reserve_free = min(reserve, max(0, least * k - max(0, charged) * k // n))
        filesystems = len({s.device for s in shares})
        names = max(0, outside) // (NAME_COST_PER_MEMBER * n)
        names_total = max(0, usable // k - per_member_reserve) // NAME_COST_PER_MEMBER
        return SpaceFigures(raw, usable, reserve, free, reserve_free, charged * k // n,
                            filesystems, names, names_total)

    def _room_locked(self) -> int:
        """Raw bytes charges may still take outside the reserve (lock held, no I/O)."""
        shares = self._shares
        if not shares:
            return 0
        usable = min(s.size_bytes for s in shares) * self.k
        per_member_reserve = -(-reserve_for(usable) // self.k)
        least = min(s.free_bytes for s in shares)
        unmeasured = self._settled - self._measured_at_settled
        budget = max(0, least - per_member_reserve) * self.member_count
        return budget - unmeasured - self._charged

    def changed(self, raw_written: int = 0) -> None:
        """Members' free space changed (a put wrote `raw_written` bytes, a compaction
        freed some): count the bytes as used until the watcher has measured again."""
        with self._lock:
            self._settled += max(0, raw_written)
        self._wake.set()

    # ------------------------------------------------------------- charging

    def charge(self, raw: int) -> None:
        """Hold `raw` member bytes for buffered data; StoreFullError (ENOSPC) if they do not
        fit outside the reserve. Nothing is held when it raises."""
        if raw <= 0:
            if raw < 0:
                self.uncharge(-raw)
            return
        if self._try_charge(raw):
            return
        # Near the line a second look, with fresh figures, before saying no (the one
        # statvfs on the caller's thread: a refusal loses a write).
        self.measure()
        if self._try_charge(raw):
            return
        raise StoreFullError(
            "the array is full: no room outside the reserve for this write "
            "(purge trash, delete snapshots or add a disk)")

    def _try_charge(self, raw: int) -> bool:
        self._ensure_measured()
        with self._lock:
            if raw <= self._room_locked():
                self._charged += raw
                return True
        return False

    def uncharge(self, raw: int) -> None:
        """Give back a charge (the data is stored now, or was dropped); it still counts as
        used until the next measurement that began after this."""
        if raw <= 0:
            return
        with self._lock:
            given = min(raw, self._charged)
            self._charged -= given
            self._settled += given
        self._wake.set()

    def admit_names(self, count: int = 1) -> None:
        """StoreFullError unless `count` new names' metadata fits outside the reserve."""
        need = NAME_COST_PER_MEMBER * self.member_count * count
        self._ensure_measured()
        with self._lock:
            if need <= self._room_locked():
                return
        raise StoreFullError(
            "the array is full: no room outside the reserve for a new file or folder "
            "(purge trash, delete snapshots or add a disk)")

    def room_for_maintenance(self) -> int:
        """Raw bytes compaction may write now: all that is free except half the reserve
        (the other half stays for metadata, logs and deletions). Fresh figures."""
        shares = member_shares(dict(self._present))
        if not shares:
            return 0
        usable = min(sh.size_bytes for sh in shares) * self.k
        keep = -(-reserve_for(usable) // (2 * self.k))
        least = min(sh.free_bytes for sh in shares)
        # Buffered data was promised its room: compaction must not take it.
        return max(0, max(0, least - keep) * self.member_count - self.charged)

    @property
    def charged(self) -> int:
        with self._lock:
            return self._charged
