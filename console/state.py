"""What the console knows at a moment: the array's status and the job it runs, as values.

The App holds one `ConsoleState` and replaces it whole on every change, so screens and
widgets that watch it always see a consistent picture. Built from nasfs.client types only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from nasfs.client import ArrayStatus, JobProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobState:
    """A scrub or rebuild this console started (or saw running), with its last progress."""

    name: str  # "scrub" | "rebuild"
    detail: str = ""
    progress: JobProgress | None = None
    finished: bool = False
    outcome: str = ""  # a sentence once finished: what it found or why it failed
    failed: bool = False


@dataclass(frozen=True)
class ConsoleState:
    status: ArrayStatus | None = None
    problem: str | None = None  # the daemon cannot be reached: why, in plain words
    daemon_running: bool = False
    methods: frozenset[str] = field(default_factory=frozenset)
    job: JobState | None = None

    def with_job(self, job: JobState | None) -> ConsoleState:
        return replace(self, job=job)

    @property
    def state_word(self) -> str:
        """HEALTHY / DEGRADED / REBUILDING / FAILED / NO SERVICE / ... for the header."""
        if not self.daemon_running:
            return "NO SERVICE" if self.status is None else "STOPPED"
        if self.status is None:
            return "..."
        running = self.status.running_job or (self.job.name if self.job and not
                                              self.job.finished else None)
        if running == "rebuild":
            return "REBUILDING"
        if self.status.read_only and self.status.state == "healthy":
            return "READ-ONLY"
        return self.status.state.upper()
