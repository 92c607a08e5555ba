"""What the daemon offers the parts it wires (method groups, jobs, listeners): the
`DaemonHost` protocol, and the events it records.

The method groups, the job runner, the schedules and the damage log are handed the daemon
as a `DaemonHost` and name nothing of nasfs.daemon.service, which imports them: they
receive what they need without pointing back at the service that assembles them.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from nasfs.config import Config
from nasfs.daemon.array import MountedArray
from nasfs.daemon.periodic import PeriodicJobs
from nasfs.daemon.status import MemberErrors
from nasfs.db import DBEvent
from nasfs.mail.notifier import Notifier
from nasfs.policy import PolicyService
from nasfs.smb.service import SmbService
from nasfs.store import Store, StoreEvent

# What the store and the databases report (the raw form of a store Event).
RawEvent = StoreEvent | DBEvent


@dataclass(frozen=True)
class Event:
    """Something worth telling the administrator, kept for `status` (and mailed, and the
    damage ones logged, by the listeners)."""

    time: float
    source: str  # "store" | "db" | "daemon" | "fs" | "backup"
    kind: str
    detail: str


EventListener = Callable[[Event, RawEvent | None], None]


class DaemonHost(Protocol):
    """The daemon as its method groups and jobs see it (nasfs.daemon.service.Daemon)."""

    config: Config
    array_uuid: str | None
    mountpoint: Path | None
    mounted: bool
    pid: int
    started_at: float
    events: collections.deque[Event]
    jobs: PeriodicJobs
    job_lock: trio.Lock  # one scrub/rebuild/compact at a time
    running_job: str | None
    cancel_job: threading.Event
    member_errors: MemberErrors
    stop_problems: list[str]
    notifier: Notifier
    event_listeners: list[EventListener]
    smb: SmbService | None

    @property
    def array(self) -> MountedArray: ...

    @property
    def open_array(self) -> MountedArray | None: ...

    @property
    def store(self) -> Store: ...

    @property
    def policy(self) -> PolicyService: ...

    @property
    def stopping(self) -> bool: ...

    def note(self, source: str, kind: str, detail: str) -> None: ...

    async def shutdown_and_wait(self, reason: str) -> None: ...

    def member_replaced(self, index: int, onto: Path) -> str | None: ...
