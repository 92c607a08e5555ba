"""A thread that redoes the Previous Versions links (nasfs.smb.previous) when snapshots change.

The volume reports snapshot changes on the file-system thread. Deciding which user may open
which snapshot of which share, and relinking a directory per share and user, grows with
users × shares × snapshots (a new snapshot touches every directory), and no FUSE request
is served while it runs. So the work is handed to this thread: requests made while a relink
runs are folded into one more relink with the latest state, and whoever must see the links
done (a snapshot made or deleted through the control socket, before it replies) waits for
the request it made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class VersionLinker:
    """Runs `relink` on its own thread, once per batch of requests, newest state last."""

    def __init__(self, relink: Callable[[], None]) -> None:
        self._relink = relink
        self._cond = threading.Condition()
        self._requested = 0  # number of the last request
        self._done = 0  # every request up to this number has been relinked (or failed)
        self._thread: threading.Thread | None = None
        self._closed = False

    def request(self) -> int:
        """Ask for a relink; returns the request's number, for `wait`."""
        with self._cond:
            if self._closed:
                return self._requested
            self._requested += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="smb-versions")
                self._thread.start()
            self._cond.notify_all()
            return self._requested

    def wait(self, number: int | None = None, timeout_s: float = 60.0) -> bool:
        """Wait until request `number` (default: the last one made) is done. False if it
        was not done within `timeout_s` (the links are a view: nothing is lost meanwhile)."""
        with self._cond:
            target = self._requested if number is None else number
            return self._cond.wait_for(lambda: self._done >= target or self._closed,
                                       timeout=timeout_s)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._requested > self._done or self._closed)
                if self._closed:
                    return
                upto = self._requested  # everything asked so far is covered by this relink
            try:
                self._relink()
            except Exception:
                # The links stay as they were; the next change redoes all of them.
                log.exception("could not relink the Previous Versions")
            with self._cond:
                self._done = upto
                self._cond.notify_all()
