"""Retention: purging trash items older than their share's `trash_days` (the daemon's
`trash-retention` job runs it hourly; the policy clock says what "now" is)."""

from __future__ import annotations

import logging

from nasfs.operations import SYSTEM_ACTOR
from nasfs.policy.auditstore import LogEntry
from nasfs.policy.service import PolicyService
from nasfs.trash.repository import TrashItem
from nasfs.trash.service import Trash

log = logging.getLogger(__name__)


def purge_expired(trash: Trash, policy: PolicyService) -> list[TrashItem]:
    """Purge what the shares' retention no longer keeps; one access-log row per item."""
    retention = {s.name: s.trash_days for s in policy.snapshot.shares.values()}
    purged = [trash.purge(item.id) for item in trash.expired(retention)]
    if purged:
        log.info("trash retention purged %d items", len(purged))
        audit = policy.audit
        for item in purged:
            entry = LogEntry("purge", share=item.share, path=item.path, bytes=item.size,
                             user=SYSTEM_ACTOR, detail=f"trash #{item.id}, retention")
            if audit is None or not audit.record_nowait(entry):
                policy.log_system([entry])  # no writer or a full queue: never drop it
    return purged
