"""Typed, synchronous access to a running nasfs daemon over its control socket.

The CLI and the console use only this package to change a mounted array (the console
imports nothing else of nasfs: what it needs is re-exported here). It never imports trio,
so the console (asyncio) can call it from worker threads.
"""

from nasfs import units
from nasfs.client.client import ArrayNotNamed, Client, resolve_socket, start_hint
from nasfs.client.connection import (
    Connection,
    DaemonError,
    DaemonGone,
    DaemonNotRunning,
    DaemonTimeout,
)
from nasfs.client.locate import Target, daemon_target
from nasfs.errors import NasfsError
from nasfs.operations import UnknownOperation, access_operation, operations_help
from nasfs.wire import codes
from nasfs.wire.types import (
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
    "NasfsError",
    "Target",
    "UnknownOperation",
    "access_operation",
    "codes",
    "daemon_target",
    "operations_help",
    "resolve_socket",
    "start_hint",
    "units",
]
