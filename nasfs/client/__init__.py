"""Typed, synchronous access to a running nasfs daemon over its control socket.

The CLI and the console use only this package to change a mounted array. It never imports
trio, so the console (asyncio) can call it from worker threads.
"""

from nasfs.client.client import ArrayNotNamed, Client, resolve_socket, start_hint
from nasfs.client.connection import (
    Connection,
    DaemonError,
    DaemonGone,
    DaemonNotRunning,
    DaemonTimeout,
)
from nasfs.client.types import (
    ArrayStatus,
    Capacity,
    EventRecord,
    JobProgress,
    JobResult,
    MemberStatus,
)

__all__ = [
    "ArrayNotNamed",
    "ArrayStatus",
    "Capacity",
    "Client",
    "Connection",
    "DaemonError",
    "DaemonGone",
    "DaemonNotRunning",
    "DaemonTimeout",
    "EventRecord",
    "JobProgress",
    "JobResult",
    "MemberStatus",
    "resolve_socket",
    "start_hint",
]
