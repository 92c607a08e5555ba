"""The kernel forgets what it cached of the gate's answers when the policy changes.

Entries below a share folder keep their ordinary timeouts (60 s, snapshot content 300 s):
a path walk from the mount's root LOOKUPs the share folder again as the walker (zero entry
timeout), so a user who lost access is stopped there. A process that kept its working
directory or a folder descriptor inside the share walks from there instead, and the kernel
answered its stat, access and permission checks of entries it had cached from those
attributes, without asking the gate: after a revoke the user still saw sizes, modes and
names. After every policy change (an ACL entry, a share made hidden, a group membership, a
user deleted) the kernel is told to forget the attributes of every inode the gate has
handed it, so the next request on any of them is a GETATTR the gate judges as the caller.
Only attributes go: page caches and entries stay (an entry whose attributes are stale
is revalidated by that GETATTR), so the cost is one notification per inode the kernel holds,
made in the admin call's thread before the call answers.
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
    forget the cached attributes of the gate's inodes."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._lock = threading.Lock()  # detach waits for a notification under way
        self._active = False
        self._callbacks: list[Callable[[PolicySnapshot], None]] | None = None

    def attach(self) -> None:
        if self.gate.policy is None:
            return
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
            forgotten = 0
            for ino in self.gate.kernel_inodes():
                # OSError (ENOENT): the kernel dropped it meanwhile; nothing to forget.
                with contextlib.suppress(OSError):
                    pyfuse3.invalidate_inode(ino, attr_only=True)
                    forgotten += 1
            log.debug("policy version %d: the kernel forgot the attributes of %d inodes",
                      snapshot.version, forgotten)
