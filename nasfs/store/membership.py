"""Membership of an open array: the members in use, pinned, and the label they carry.

Why a module of its own: which members are in use changes under the store's feet (a disk
vanishes, is replaced, a rebuild target joins), and every such change must fail, pin or
label members in one step under the store's lock. The store owns one `Membership` and
shares its lock; `present` and `roots` are the live dicts the write and read paths copy.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from nasfs.store.assembly import Assembly
from nasfs.store.disks import disk_name
from nasfs.store.errors import AssemblyError
from nasfs.store.events import StoreEvent
from nasfs.store.label import ArrayLabel, write_label_at
from nasfs.store.member import MemberRoot

log = logging.getLogger(__name__)


class Membership:
    """Present members, their pinned roots and the array's label (under `lock`)."""

    def __init__(self, assembly: Assembly, lock: threading.RLock,
                 emit: Callable[[StoreEvent], None], is_closed: Callable[[], bool]) -> None:
        self._lock = lock
        self._emit = emit
        self._is_closed = is_closed
        self.label = assembly.label
        self.present: dict[int, Path] = dict(assembly.present)
        # Each present member pinned (nasfs.store.member): writes go through these only.
        self.roots: dict[int, MemberRoot] = {}
        self.pinned: list[MemberRoot] = []  # every root ever pinned, closed at close()
        # Slots a metadata copy failed on (`suspect`), probed with real I/O by the next
        # `verify_members`. Its own lock: databases report from any thread, holding any.
        self._suspects: set[int] = set()
        self._suspects_lock = threading.Lock()
        for i, path in sorted(self.present.items()):
            try:
                self._pin(i, path)
            except OSError as exc:
                self.close()
                raise AssemblyError(
                    f"{path} ({disk_name(i)}) vanished while the array was assembled "
                    f"({exc.strerror or exc})") from exc

    @property
    def missing(self) -> list[int]:
        return [i for i in range(self.label.member_count) if i not in self.present]

    def close(self) -> None:
        for root in self.pinned:
            root.close()

    def _pin(self, index: int, path: Path) -> None:
        root = MemberRoot(path)
        self.pinned.append(root)
        self.roots[index] = root

    def admit(self, index: int, root: MemberRoot) -> None:
        """Start writing to a rebuild target (its label comes last, at the switch-over)."""
        with self._lock:
            self.pinned.append(root)
            self.roots[index] = root
            self.present[index] = root.path

    def withdraw(self, index: int, path: Path) -> None:
        """Undo `admit` after a rebuild that did not finish (no generation change)."""
        with self._lock:
            if self.present.get(index) == path:
                del self.present[index]
                self.roots.pop(index, None)

    def root(self, index: int) -> MemberRoot:
        """The pinned member of a present slot (KeyError when it is not present)."""
        with self._lock:
            return self.roots[index]

    def bump_generation(self, *, failed: set[int]) -> None:
        """Rewrite every present label with generation + 1 (members that miss it go stale).

        Members that are no longer who they were at assembly are failed in the same
        step rather than written to (a label written there would plant a member).
        """
        with self._lock:
            failed = failed | set(self.drop_invalid())
            new = self.label.next_epoch(failed=tuple(sorted(failed)))
            self.write_labels(new)
            self.label = new
            self._emit(StoreEvent("generation-bumped", detail=f"generation {new.generation}"))

    def write_labels(self, new: ArrayLabel) -> None:
        """Write `new` on every pinned member (lock held); a member that refuses is logged
        and goes stale."""
        for i, root in list(self.roots.items()):
            try:
                write_label_at(root, new.for_member(i))
            except OSError as exc:
                log.error("cannot write label on %s: %s", root.path, exc)

    def drop_invalid(self) -> list[int]:
        """Take every present member that is no longer itself out of use (lock held)."""
        dropped = []
        for i, root in list(self.roots.items()):
            problem = root.problem()
            if problem is None:
                continue
            self.present.pop(i, None)
            self.roots.pop(i, None)
            self._emit(StoreEvent("member-failed", member=i, path=str(root.path),
                                 detail=problem))
            dropped.append(i)
        return dropped

    def fail_member(self, index: int, why: str) -> None:
        """Stop using a member that failed while running (it will need a rebuild)."""
        with self._lock:
            path = self.present.pop(index, None)
            self.roots.pop(index, None)
            if path is None:
                return
            self._emit(StoreEvent("member-failed", member=index, path=str(path), detail=why))
            self.bump_generation(failed=set(self.label.failed) | {index})

    def suspect(self, path: Path | str) -> None:
        """A metadata database copy at `path` failed: have the next `verify_members` probe
        the member holding it with real I/O. A dead disk that is only read from (or whose
        next store write is seconds away) shows itself first there; without this `status`
        went on calling the array healthy. Takes no store lock (any thread may call it)."""
        target = os.path.abspath(path)
        for i, root in list(self.roots.items()):
            if target.startswith(os.path.abspath(root.path) + os.sep):
                with self._suspects_lock:
                    self._suspects.add(i)

    def verify_members(self) -> list[int]:
        """Re-probe every present member; fail those that vanished or were replaced, and
        the suspects (`suspect`) whose filesystem no longer takes I/O.

        Returns the slots failed now. Cheap (a few stat calls per member, an fsync per
        suspect): writers call it before every batch, readers after an error, status and
        the daemon's watch always.
        """
        with self._lock:
            if self._is_closed():
                return []
            with self._suspects_lock:
                suspects, self._suspects = self._suspects, set()
            dead: list[int] = []
            for i in sorted(suspects):
                root = self.roots.get(i)
                why = root.io_problem() if root is not None else None
                if root is None or why is None:
                    continue
                self.present.pop(i, None)
                self.roots.pop(i, None)
                # Worded as the write path's failures are (counted as a write error).
                self._emit(StoreEvent("member-failed", member=i, path=str(root.path),
                                      detail=f"write failed: {why} (after a metadata "
                                             "copy on it failed)"))
                dead.append(i)
            bad = [i for i, root in self.roots.items() if root.problem() is not None]
            if bad or dead:
                self.bump_generation(failed=set(self.label.failed) | set(dead))
            return sorted(dead + bad)

    def copy_ok(self, path: Path) -> bool:
        """May a metadata database copy at `path` be written (or created)?

        Only inside a present member that is still the one assembled: the predicate the
        replicated databases (store, fs, policy, audit) ask before they touch a copy.
        """
        target = os.path.abspath(path)
        # No lock on the good path: the filesystem asks from the event loop's thread, and a
        # put holds the lock across its catalog fsync.
        for root in list(self.roots.values()):
            if target.startswith(os.path.abspath(root.path) + os.sep):
                if root.problem() is None:
                    return True
                self.verify_members()
                return False
        return False
