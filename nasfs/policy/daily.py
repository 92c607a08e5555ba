"""The daily log job: write each finished day of both logs as CSV into the export folder, then
prune rows older than the retention (the chain anchor keeps what is left verifiable).

Days are UTC days. Days already exported are remembered in audit.db (`last_export_day`), so
a daemon that was down for a while catches up (at most `MAX_CATCH_UP_DAYS` at a time).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nasfs.policy.auditstore import KINDS, LogEntry, LogFilter
from nasfs.policy.export import write_csv

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService

log = logging.getLogger(__name__)

MAX_CATCH_UP_DAYS = 31
DAY_NS = 86_400 * 1_000_000_000


@dataclass
class DailyReport:
    exported: list[str] = field(default_factory=list)  # files written
    pruned: dict[str, int] = field(default_factory=dict)  # rows removed per log


def _day_start_ns(day: datetime.date) -> int:
    moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
    return int(moment.timestamp()) * 1_000_000_000


def run_daily(service: PolicyService) -> DailyReport:
    """Export finished days and prune old rows (blocking; run in a worker thread)."""
    report = DailyReport()
    settings = service.settings()
    now_ns = service.clock.now_ns()
    today = datetime.datetime.fromtimestamp(now_ns / 1e9, tz=datetime.UTC).date()
    folder = str(settings["log.export_dir"])
    if folder:
        with service.audit_lock:
            last = service.audit_store.meta("last_export_day")
        first = (datetime.date.fromisoformat(last) + datetime.timedelta(days=1) if last
                 else today - datetime.timedelta(days=1))
        first = max(first, today - datetime.timedelta(days=MAX_CATCH_UP_DAYS))
        day = first
        while day < today:
            start = _day_start_ns(day)
            flt = LogFilter(since_ns=start, until_ns=start + DAY_NS)
            for kind in KINDS:
                target = Path(folder) / f"{kind}-{day.isoformat()}.csv"
                with service.audit_lock:
                    rows = list(service.audit_store.iterate(kind, flt))
                write_csv(rows, target, str(settings["log.export_encoding"]))
                report.exported.append(str(target))
            with service.audit_lock:
                service.audit_store.set_meta("last_export_day", day.isoformat())
            day += datetime.timedelta(days=1)
    cutoff = now_ns - int(settings["log.retention_days"]) * DAY_NS
    for kind in KINDS:
        with service.audit_lock:
            report.pruned[kind] = service.audit_store.prune(kind, cutoff)
    if report.exported or any(report.pruned.values()):
        service.log_system([LogEntry(
            operation="log.daily", result="OK", uid=None,
            detail=f"exported {len(report.exported)} files; pruned "
                   + ", ".join(f"{n} {k} rows" for k, n in report.pruned.items()))])
    return report
