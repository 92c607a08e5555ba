"""Answers to LOOKUPs in the root (share folders) kept in memory, so a path walk's
revalidation of its share folder costs no SQL and no policy work.

Share folders have zero kernel entry timeouts (what a caller may see of them depends on
who asks), so the kernel looks the share's name up again on every path walk through it:
one LOOKUP per stat of a file in the share. The answer depends only on who asks (the
principal, a function of uid and gid under one policy version), the name, the policy
version and the filesystem's metadata, so it is kept per (uid, gid, name) and dropped as a
whole when the policy version or the metadata change stamp (`Filesystem.changes`) moves.
Only answers that found a visible entry are kept: misses and refusals (which are logged)
always take the full path.
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
        self._stamp: tuple[int, int] = (-1, -1)

    def stamp(self) -> tuple[int, int]:
        """What the answers depend on besides who asks: (policy version, metadata stamp)."""
        policy = self.judge.policy
        return (policy.version if policy is not None else 0, self.fs.changes)

    def get(self, who: Principal, name: bytes) -> Attributes | None:
        """The attributes the full lookup of `name` in the root gave `who` (as shown to
        them), if nothing changed since; None: ask the full path. Shared: not to be changed."""
        if self.stamp() != self._stamp:
            self._answers.clear()
            return None
        return self._answers.get((who.uid, who.gid, name))

    def put(self, who: Principal, name: bytes, shown: Attributes,
            stamp: tuple[int, int]) -> None:
        """Keep the answer of a full lookup that started at `stamp` (if it still holds)."""
        if stamp != self.stamp():
            return  # something changed while it ran: the answer may be stale already
        if stamp != self._stamp or len(self._answers) >= _MOST:
            self._answers.clear()
            self._stamp = stamp
        self._answers[(who.uid, who.gid, name)] = shown
