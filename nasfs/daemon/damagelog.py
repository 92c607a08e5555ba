"""System-log rows for damage the store finds: every read error, repair and loss.

The store reports damage as events (nasfs.store.heal, scrub); the daemon counts them per
member (nasfs.daemon.status) and mails them (methods/mail.py). This listener also writes
each one to the system log, durably, so that an EIO a program got, or a shard that parity
rewrote, can be traced afterwards with `nasfs log system` even when no mail was set up.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nasfs.policy.auditstore import LogEntry
from nasfs.store.disks import disk_name

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost, Event

log = logging.getLogger(__name__)

# Event kind -> result column of the row (the errno a reader got, or OK for a repair).
LOGGED = {"read-error": "EIO", "unrecoverable": "EIO", "repaired": "OK"}


def register(daemon: DaemonHost) -> None:
    """Listen to the daemon's events (from worker threads: the store reads there)."""

    def on_event(event: Event, raw: Any) -> None:
        result = LOGGED.get(event.kind) if event.source == "store" else None
        array = daemon.open_array
        if result is None or array is None:
            return
        policy = array.policy
        member = getattr(raw, "member", None)
        where = "" if member is None else f"{disk_name(member)} ({getattr(raw, 'path', '')}): "
        entry = LogEntry(f"store.{event.kind}", result=result, detail=f"{where}{event.detail}")
        try:
            if event.kind == "unrecoverable":
                policy.log_system([entry])  # rare, and the one row that must survive
            else:
                # A scrub after a disk was emptied repairs every stripe: one fsynced commit
                # per row would slow it down for no gain (the daemon's log has them too).
                policy.write_batch("system", [entry])
        except Exception:
            log.exception("could not write the system-log row for %s", event.kind)

    daemon.event_listeners.append(on_event)
