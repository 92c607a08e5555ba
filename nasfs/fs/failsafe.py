"""The read-only fail-safe state of a mounted volume: when its metadata can no longer be
committed, it stops taking changes rather than acknowledge changes that will not persist.

A failed commit already fails the operation that caused it and puts the namespace back to
what is on disk (nasfs.fs.filesystem). This counts such failures: after `FAILSAFE_AFTER`
in a row (or at once when the last copy of the metadata is lost), the volume turns
read-only: every change answers EROFS, reads go on. Whoever listens (the daemon: status,
system log, mail) is told with the reason. A successful commit resets the count; leaving
the state takes a commit that succeeds (`Filesystem.retry_writes`) or a remount.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from nasfs.fs import errors

log = logging.getLogger(__name__)

# Failed commits in a row that turn the volume read-only: one is a full disk that the
# reserve did not cover and the operation is told; several in a row, with the group commit
# retrying every few seconds, mean that nothing can be saved any more.
FAILSAFE_AFTER = 3

# Told (reason) when the volume turns read-only, and (None) when it is writable again.
StateListener = Callable[[str | None], None]


class FailSafe:
    """Counts failed commits and holds the read-only state (see module docstring)."""

    def __init__(self) -> None:
        self.failures = 0  # failed commits since the last one that succeeded
        self.reason: str | None = None  # set while read-only: why
        self.since: float | None = None  # time.time() when it turned read-only
        self.listeners: list[StateListener] = []

    @property
    def read_only(self) -> bool:
        return self.reason is not None

    def check_writable(self) -> None:
        """ReadOnly (EROFS) while in the fail-safe state."""
        if self.reason is not None:
            raise errors.ReadOnly(
                f"the array is read-only (fail-safe) because its metadata could not be "
                f"saved: {self.reason}")

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, why: str, *, at_once: bool = False) -> bool:
        """Count a failed commit; True if the volume has just turned read-only."""
        self.failures += 1
        if self.reason is not None or (self.failures < FAILSAFE_AFTER and not at_once):
            return False
        self.reason = why
        self.since = time.time()
        log.critical("the array turned READ-ONLY (fail-safe) after %d failed commit(s): %s. "
                     "Files can still be read; fix the cause (free or replace the disk), then "
                     "unmount and mount again", self.failures, why)
        self._tell(why)
        return True

    def cleared(self) -> None:
        """Writable again (a retry committed)."""
        if self.reason is None:
            return
        log.warning("the array is writable again (it was read-only since %s: %s)",
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since or 0)),
                    self.reason)
        self.reason = self.since = None
        self.failures = 0
        self._tell(None)

    def _tell(self, reason: str | None) -> None:
        for listener in list(self.listeners):
            try:
                listener(reason)
            except Exception:
                log.exception("a fail-safe listener failed")
