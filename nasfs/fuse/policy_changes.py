"""The kernel forgets what it cached of the gate's answers when the policy changes.

Entries below a share folder keep their ordinary timeouts (60 s, snapshot content 300 s):
a path walk from the mount's root LOOKUPs the share folder again as the walker (zero entry
timeout), so a user who lost access is stopped there. A process that kept its working
directory or a folder descriptor inside the share walks from there instead, and the kernel
answered its stat, access and permission checks of entries it had cached from those
attributes, without asking the gate: after a revoke the user still saw sizes, modes and
names. After every policy change (an ACL entry, a share made hidden, a group membership, a
user deleted) the kernel is told to forget the attributes of the inodes the gate has handed
it whose answers the change may alter, so the next request on any of them is a GETATTR the
gate judges as the caller. Only attributes go: page caches and entries stay (an entry whose
attributes are stale is revalidated by that GETATTR), so the cost is one notification per
inode forgotten, made in the admin call's thread before the call answers.

Which inodes: every decision of the gate about a share comes from the policy snapshot's
record of that share (its options and ACL) and its users and groups (who the caller is,
which groups they are in); nothing else. So when users and groups are unchanged, only the
inodes of the shares whose records changed are forgotten (and those of top-level entries
that are no share); when users or groups changed (a membership, a deletion, a password or
a lock, which is a user record too), an entry naming them or `everyone` may decide
otherwise in any share, and every inode is forgotten.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyfuse3

if TYPE_CHECKING:
    from nasfs.policy.gate import Gate
    from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)


class ForgetOnPolicyChange:
    """While mounted (between `attach` and `detach`), every policy reload makes the kernel
    forget the cached attributes of the gate's inodes that the change may concern (see the
    module docstring)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._lock = threading.Lock()  # detach waits for a notification under way
        self._active = False
        self._callbacks: list[Callable[[PolicySnapshot], None]] | None = None
        self._last: PolicySnapshot | None = None  # the snapshot the kernel's caches follow

    def attach(self) -> None:
        if self.gate.policy is None:
            return
        self._last = self.gate.policy.snapshot
        self._active = True
        self._callbacks = self.gate.policy.on_reload
        self._callbacks.append(self.policy_changed)

    def detach(self) -> None:
        """Before the FUSE session closes: no notification may reach a closed session."""
        with self._lock:
            self._active = False
        if self._callbacks is not None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(self.policy_changed)
            self._callbacks = None

    def policy_changed(self, snapshot: PolicySnapshot) -> None:
        """Called in the thread that changed the policy (never the trio thread: the kernel
        call writes to the FUSE device, and with attributes only it does not wait)."""
        with self._lock:
            if not self._active:
                return
            touched = shares_touched(self._last, snapshot)
            self._last = snapshot
            forgotten = 0
            for ino in self.inodes_of(touched):
                # OSError (ENOENT): the kernel dropped it meanwhile; nothing to forget.
                with contextlib.suppress(OSError):
                    pyfuse3.invalidate_inode(ino, attr_only=True)
                    forgotten += 1
            log.debug("policy version %d: the kernel forgot the attributes of %d inodes "
                      "(shares: %s)", snapshot.version, forgotten,
                      "all" if touched is None else ", ".join(sorted(touched)) or "none")

    def inodes_of(self, shares: frozenset[str] | None) -> list[int]:
        """The kernel-known inodes in `shares` and top-level entries that are no share (all
        of them for None). The maps are copied at once (the trio thread changes them)."""
        if shares is None:
            return self.gate.kernel_inodes()
        live = dict(self.gate.nodes)
        frozen = dict(self.gate.snapshots.nodes)
        return [*(ino for ino, n in live.items() if n.share is None or n.share in shares),
                *(ino for ino, n in frozen.items() if n.share in shares)]


def shares_touched(old: PolicySnapshot | None, new: PolicySnapshot) -> frozenset[str] | None:
    """The shares whose gate decisions may differ between `old` and `new`: those whose
    records (options, ACL) differ, or None (any share's may) when users or groups differ or
    there is no `old` to compare with."""
    if old is None or (old.users, old.groups, old.groups_of) != (
            new.users, new.groups, new.groups_of):
        return None
    return frozenset(name for name in old.shares.keys() | new.shares.keys()
                     if old.shares.get(name) != new.shares.get(name))
