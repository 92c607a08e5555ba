"""The daemon's scrub: data and parity (the store's scrub), then every copy of every
metadata database (store.db, fs.db, policy.db, audit.db), as one job with one report.

Used by the control method `scrub` and by the scheduled scrub (nasfs.daemon.scrub_schedule).
Runs in a worker thread; each database's repair runs in its owner's context (the store's
lock, the trio thread for the filesystem, the policy service's locks), see nasfs.db.scrub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from nasfs.db.scrub import MetadataScrub, scrub_closed, scrub_open
from nasfs.recovery.copies import DATABASES, db_path

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost
    from nasfs.store.events import ProgressCallback
    from nasfs.store.reports import ScrubReport

T = TypeVar("T")


@dataclass
class FullScrubReport:
    """The store's ScrubReport fields, then the metadata pass. Metadata copies that stayed
    damaged are also listed in `unrecoverable` (so every "problems found" test sees them)."""

    stripes: int = 0
    bytes_read: int = 0
    repaired_shards: int = 0
    degraded_stripes: int = 0
    resumed_from: int = 0
    unrecoverable: list[str] = field(default_factory=list)
    metadata_copies: int = 0
    metadata_repaired: int = 0
    metadata_damaged: list[str] = field(default_factory=list)
    metadata_repairs: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.unrecoverable and not self.repaired_shards and not self.metadata_damaged


def _locked(lock: Any) -> Callable[[Callable[[], T]], T]:
    def call(fn: Callable[[], T]) -> T:
        with lock:
            return fn()
    return call


def _on_trio(token: trio.lowlevel.TrioToken) -> Callable[[Callable[[], T]], T]:
    def call(fn: Callable[[], T]) -> T:
        return trio.from_thread.run_sync(fn, trio_token=token)
    return call


def _owned_databases(daemon: DaemonHost, token: trio.lowlevel.TrioToken) -> list[tuple[Any, Any]]:
    """Every open replicated database of the daemon, with a way into its owner's context."""
    store = daemon.store
    found: list[tuple[Any, Any]] = [store.catalog_database()]
    volume = daemon.array.volume
    if volume is not None:
        found.append((volume.fs.db, _on_trio(token)))
    policy = daemon.policy
    found.append((policy.policy_db, _locked(policy.policy_lock)))
    found.append((policy.audit_db, _locked(policy.audit_lock)))
    return found


def scrub_metadata(daemon: DaemonHost, token: trio.lowlevel.TrioToken, *,
                   repair: bool = True) -> MetadataScrub:
    """Verify (and repair) every copy of every database the daemon has open."""
    total = MetadataScrub()
    for db, as_owner in _owned_databases(daemon, token):
        total.add(scrub_open(db, as_owner, repair=repair))
    return total


def full_scrub(daemon: DaemonHost, token: trio.lowlevel.TrioToken, *, resume: bool = False,
               repair: bool = True, progress: ProgressCallback | None = None) -> FullScrubReport:
    """Store scrub, then the metadata pass (blocking: call from a worker thread)."""
    store_report = daemon.store.scrub(resume=resume, repair=repair, progress=progress)
    return combine(store_report, scrub_metadata(daemon, token, repair=repair))


# Problems of a copy (nasfs.db.replicated) that mean damage, not merely an older generation.
_DAMAGE_WORDS = ("damaged", "unreadable", "has no")


def scrub_offline_metadata(members: Sequence[Path], *, repair: bool = True,
                           repaired_at_open: Sequence[Any] = ()) -> MetadataScrub:
    """The metadata pass of an offline scrub: every copy on `members`, nobody has them open.

    `repaired_at_open`: the store's events from its open, which already rewrote damaged
    copies of store.db; they are reported as found and repaired by this scrub.
    """
    total = MetadataScrub()
    for event in repaired_at_open:
        detail = str(getattr(event, "detail", ""))
        if getattr(event, "kind", "") == "db-repaired" and detail.startswith(_DAMAGE_WORDS):
            line = f"store.db copy {getattr(event, 'path', '?')}: {detail}"
            total.damaged.append(line)
            total.repaired.append(f"{line}; rewritten from a sound copy when the store opened")
    for name in DATABASES:
        total.add(scrub_closed(name, [db_path(Path(m), name) for m in members], repair=repair))
    return total


def combine(store_report: ScrubReport, meta: MetadataScrub) -> FullScrubReport:
    """One report from the store's scrub and the metadata pass."""
    fields = {f.name: getattr(store_report, f.name)
              for f in dataclasses.fields(FullScrubReport) if hasattr(store_report, f.name)}
    report = FullScrubReport(**fields)
    report.unrecoverable = [*report.unrecoverable, *meta.unrepaired]
    report.metadata_copies = meta.copies_checked
    report.metadata_repaired = len(meta.repaired)
    report.metadata_damaged = meta.damaged
    report.metadata_repairs = meta.repaired
    return report
