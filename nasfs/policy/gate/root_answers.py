"""Answers to LOOKUPs in the root (share folders) kept in memory, so a path walk's
revalidation of its share folder costs no SQL and no policy work.

Share folders have zero kernel entry timeouts (what a caller may see of them depends on
who asks), so the kernel looks the share's name up again on every path walk through it:
one LOOKUP per stat of a file in the share. The answer depends only on who asks (the
principal, a function of uid and gid under one policy version), the name, the policy
version and the metadata of the root's entries and of the folders they name, so it is kept
per (uid, gid, name) and dropped as a whole when the policy version or the stamp of those
rows (`Filesystem.top_changes`: every change of an entry of the root, of a folder's inode
row whose answer is kept, and every rollback) moves. Changes below the share folders (a
file created in a subfolder, a file deleted to the trash) leave the answers standing; a
change of the folder's own row (an entry created directly in it changes its times) drops
them. Only answers that found a visible entry are kept: misses and refusals (which are
logged) always take the full path.
"""

from __future__ import annotations

from nasfs.fs import Attributes, Filesystem
from nasfs.policy.acl import Principal
from nasfs.policy.gate.judge import Judge

# Callers times top-level names seen between two changes; beyond it the map starts over
# (a bound on memory, never on correctness).
_MOST = 4096


class RootAnswers:
    def __init__(self, fs: Filesystem, judge: Judge) -> None:
        self.fs = fs
        self.judge = judge
        self._answers: dict[tuple[int, int, bytes], Attributes] = {}
        self._stamp: tuple[int, tuple[int, int]] = (-1, (-1, -1))

    def stamp(self) -> tuple[int, tuple[int, int]]:
        """What the kept answers depend on besides who asks: (policy version, the stamp of
        the root's entries and of the watched folders' rows)."""
        policy = self.judge.policy
        return (policy.version if policy is not None else 0, self.fs.top_changes)

    def begin(self) -> tuple[tuple[int, tuple[int, int]], int]:
        """Taken before a full lookup, for `put`: the stamp, and the coarse metadata stamp
        (`Filesystem.changes`), since the folder's row is watched only once it is kept."""
        return self.stamp(), self.fs.changes

    def get(self, who: Principal, name: bytes) -> Attributes | None:
        """The attributes the full lookup of `name` in the root gave `who` (as shown to
        them), if nothing changed since; None: ask the full path. Shared: not to be changed."""
        if self.stamp() != self._stamp:
            self._answers.clear()
            return None
        return self._answers.get((who.uid, who.gid, name))

    def put(self, who: Principal, name: bytes, shown: Attributes,
            began: tuple[tuple[int, tuple[int, int]], int]) -> None:
        """Keep the answer of a full lookup that started at `began` (if it still holds:
        nothing at all changed while it ran, so the folder's row is the one it read)."""
        if began != self.begin():
            return  # something changed while it ran: the answer may be stale already
        stamp = began[0]
        self.fs.watch_top(shown.ino)  # from now on a change of its row drops the answers
        if stamp != self._stamp or len(self._answers) >= _MOST:
            self._answers.clear()
            self._stamp = stamp
        self._answers[(who.uid, who.gid, name)] = shown
