"""Space held for fallocated records that nothing has written yet.

fallocate(2) mode 0 promises that later writes into the range do not fail for space. A
record is buffered and charged against the array's free space only when it is written
(nasfs.fs.data), so an allocated range holds its space here instead: a *reservation* of
record `idx` of a file is the length up to which that record is promised, charged as
`space.cost(length)` through the same SpaceAccount as buffered data, so df shows it used
and other writers cannot take it.

Lifetime: the first write into a reserved record turns the reservation into the record's
own charge (`claim`: handed over, never given back and taken again; nasfs.fs.data pads the
new buffer with zeros up to the reserved length, which costs exactly what the reservation
held, so that write cannot fail for space and neither can later writes within the reserved
length). Truncation below a reservation, punching the
record out and deleting the file give it back. A reservation exists only for a record that
has no dirty buffer (a dirty record is padded at once instead). Reservations live in memory
while the volume is mounted: after a remount an allocated, never-written range is a hole
again (it reads as zeros either way).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from nasfs.errors import NasfsError
from nasfs.fs import errors


class Reservations:
    """Reserved lengths by file and record index, charged to one SpaceAccount."""

    def __init__(self, space: Any) -> None:
        self.space = space  # nasfs.store.space.SpaceAccount
        self._files: dict[int, dict[int, int]] = {}

    def of(self, ino: int) -> Mapping[int, int]:
        """Reserved length by record index of file `ino` (empty if none)."""
        return self._files.get(ino, {})

    def holders(self) -> Collection[int]:
        """The files holding any reservation (a live view: read it, do not keep it)."""
        return self._files.keys()

    def held(self, ino: int, idx: int) -> int:
        return self._files.get(ino, {}).get(idx, 0)

    def hold(self, ino: int, wanted: Mapping[int, int], extra: int = 0) -> None:
        """Reserve record `idx` up to `wanted[idx]` bytes (never less than already held),
        and charge `extra` raw bytes with them (buffered records the caller grows), all or
        nothing: NoSpace (ENOSPC) and nothing changed when they do not fit."""
        mine = self._files.get(ino, {})
        cost = self.space.cost
        grow = {idx: n for idx, n in wanted.items() if n > mine.get(idx, 0)}
        delta = extra + sum(cost(n) - cost(mine.get(idx, 0)) for idx, n in grow.items())
        if delta <= 0 and not grow:
            return
        try:
            self.space.charge(delta)
        except NasfsError as exc:
            raise errors.NoSpace(str(exc)) from None
        if grow:
            self._files.setdefault(ino, {}).update(grow)

    def claim(self, ino: int, idx: int) -> int:
        """Hand the reservation of record `idx` to its first write: the charge stays where
        it is (it is the record's charge now) and the reserved length is returned (0 if
        none). Not take-and-charge-again: space given back counts as used until the next
        measurement (nasfs.store.space), so on a full array that second charge would fail,
        the very failure fallocate promises away."""
        mine = self._files.get(ino)
        if not mine or idx not in mine:
            return 0
        length = mine.pop(idx)
        if not mine:
            del self._files[ino]
        return length

    def take(self, ino: int, idx: int) -> int:
        """Give back the reservation of record `idx` (its write is charging the record now);
        returns the reserved length (0 if none), which the caller pads the record to."""
        mine = self._files.get(ino)
        if not mine or idx not in mine:
            return 0
        length = mine.pop(idx)
        if not mine:
            del self._files[ino]
        self.space.uncharge(self.space.cost(length))
        return length

    def shrink(self, ino: int, idx: int, length: int) -> None:
        """Keep at most `length` bytes of record `idx` reserved (0: drop it)."""
        held = self.held(ino, idx)
        if held <= length:
            return
        if length <= 0:
            self.take(ino, idx)
            return
        self._files[ino][idx] = length
        cost = self.space.cost
        self.space.uncharge(cost(held) - cost(length))  # a smaller charge: never fails

    def clip(self, ino: int, size: int, record_size: int) -> None:
        """A truncation to `size`: nothing stays reserved past it."""
        for idx in [i for i in self.of(ino) if (i + 1) * record_size > size]:
            self.shrink(ino, idx, max(0, size - idx * record_size))

    def discard(self, ino: int) -> None:
        """The file is gone: give back all it held."""
        mine = self._files.pop(ino, None)
        if mine:
            cost = self.space.cost
            self.space.uncharge(sum(cost(n) for n in mine.values()))
