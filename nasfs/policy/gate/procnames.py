"""Process names for access-log rows: /proc/PID/comm, reused for a second per pid (a busy
writer opens many files, and reading /proc for each would cost more than the open)."""

from __future__ import annotations

import time

from nasfs.policy.service import process_name

PROCESS_NAME_TTL = 1.0  # seconds a pid's process name is reused
_LIMIT = 4096  # pids remembered before the cache starts over


class ProcessNames:
    def __init__(self) -> None:
        self._names: dict[int, tuple[float, str | None]] = {}

    def of(self, pid: int) -> str | None:
        now = time.monotonic()
        cached = self._names.get(pid)
        if cached is not None and now - cached[0] < PROCESS_NAME_TTL:
            return cached[1]
        if len(self._names) > _LIMIT:
            self._names.clear()
        name = process_name(pid)
        self._names[pid] = (now, name)
        return name
