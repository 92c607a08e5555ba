"""The narrow interface maintenance jobs get from the store (`Store.upkeep`).

Why: scrub, rebuild, compaction, healing and the status report used to take the store's
lock and run catalog queries themselves, read its stripe counter and swap its catalog.
Everything they need is here instead, one typed method each, every catalog access under
the store's lock, so the lock and the catalog stay the store's own (only nasfs.store.store
and this module touch them). A job receives an `Upkeep`, not the whole Store.

The one back-reference left in nasfs.store is this module's: `Upkeep` names `Store` (under
TYPE_CHECKING) because it is the store's other half, holding the store's lock and catalog
on the jobs' behalf, and uses some twenty of its members (the lock, the catalog and its
reopening, the label it rewrites, the write path's stripe counter and settling); a protocol
of those would be the store again under another name. The jobs themselves (scrub, rebuild,
compaction, healing, capacity) name only `Upkeep`.

Locking: each method takes the store's lock for its catalog work only and never across
disk I/O on members; the ones that must be atomic with the write path (the rebuild's
switch-over, choosing segments to compact) say so.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasfs.store.catalog import ChunkRecord, SegmentRecord, StripeRecord
from nasfs.store.errors import RebuildError
from nasfs.store.events import StoreEvent
from nasfs.store.label import ArrayLabel, write_label_at
from nasfs.store.member import MemberRoot
from nasfs.store.rebuild_target import check_target
from nasfs.store.space import SpaceAccount

if TYPE_CHECKING:
    from nasfs.store.store import Store

StripeBatch = list[tuple[StripeRecord, list[ChunkRecord]]]


class Upkeep:
    """What a maintenance job may ask of and do to one open store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # ---------------------------------------------------------------- the array

    @property
    def member_count(self) -> int:
        return self._store.member_count

    @property
    def nparity(self) -> int:
        return self._store.nparity

    @property
    def label(self) -> ArrayLabel:
        return self._store.label

    @property
    def missing(self) -> list[int]:
        return self._store.missing

    @property
    def present(self) -> dict[int, Path]:
        """A copy of the present members (slot -> directory) as of now."""
        return dict(self._store.present)

    @property
    def space(self) -> SpaceAccount:
        return self._store.space

    @property
    def maintenance_lock(self) -> threading.Lock:
        """One scrub, rebuild or compaction at a time (healing skips while it is held)."""
        return self._store.maintenance_lock

    def emit(self, event: StoreEvent) -> None:
        self._store.emit(event)

    def verify_members(self) -> list[int]:
        return self._store.verify_members()

    def fail_member(self, index: int, why: str) -> None:
        """Stop using a member that failed while running (it will need a rebuild)."""
        self._store.fail_member(index, why)

    def root(self, index: int) -> MemberRoot:
        """The pinned member of a present slot (KeyError when it is not present)."""
        return self._store.root(index)

    def get(self, chunk_id: bytes) -> bytes:
        return self._store.get(chunk_id)

    # ------------------------------------------------------------ catalog reads

    def state(self, key: str) -> Any:
        """A small record of the catalog's `state` table (None when not set)."""
        with self._store._lock:
            return self._store.catalog.get_state(key)

    def set_state(self, key: str, value: Any) -> None:
        """Set (None: delete) a `state` record, durably."""
        with self._store._lock:
            self._store.catalog.set_state(key, value)

    def stripes_with_chunks(self, first_id: int, limit: int) -> StripeBatch:
        """Up to `limit` stripes with id >= first_id, in id order, each with its chunks."""
        with self._store._lock:
            catalog = self._store.catalog
            stripes = catalog.stripes_from(first_id, limit)
            chunks = catalog.chunks_in_stripes(stripes[0].id, stripes[-1].id) if stripes else {}
        return [(s, chunks.get(s.id, [])) for s in stripes]

    def stripes_from(self, first_id: int, limit: int) -> list[StripeRecord]:
        with self._store._lock:
            return self._store.catalog.stripes_from(first_id, limit)

    def chunks_in_stripe(self, stripe_id: int) -> list[ChunkRecord]:
        with self._store._lock:
            return self._store.catalog.chunks_in_stripe(stripe_id)

    def chunks_if_current(self, stripe: StripeRecord) -> list[ChunkRecord] | None:
        """The stripe's chunks, or None when the catalog no longer has it as given (a
        compaction moved it away meanwhile)."""
        with self._store._lock:
            current = self._store.catalog.stripes_from(stripe.id, 1)
            if not current or current[0] != stripe:
                return None
            return self._store.catalog.chunks_in_stripe(stripe.id)

    def scrub_work(self, resumed_at: int) -> tuple[int, int]:
        """(shard bytes a whole scrub reads, those below stripe `resumed_at`)."""
        with self._store._lock:
            return self._store.catalog.stripe_bytes(self.nparity, resumed_at)

    def shard_bytes_from(self, first_id: int) -> int:
        """Shard bytes per member of the stripes with id >= first_id (a rebuild's work)."""
        with self._store._lock:
            return self._store.catalog.stripe_totals(first_id)[1]

    def reclaimable_bytes(self, *, including_current: bool = False) -> int:
        """Dead chunk bytes in sealed segments (what compaction could give back now); with
        `including_current` also those of the segment being appended to (compaction seals
        it when it is worth compacting)."""
        with self._store._lock:
            current = None if including_current else self._store.current_segment
            return self._store.catalog.reclaimable_bytes(current)

    def totals(self) -> tuple[dict[str, int], int]:
        """The catalog's totals (Catalog.totals) and the reclaimable bytes, in one look."""
        with self._store._lock:
            catalog = self._store.catalog
            return catalog.totals(), catalog.reclaimable_bytes(self._store.current_segment)

    # ------------------------------------------------------------------- scrub

    def finish_scrub(self, last: dict[str, int]) -> None:
        """Forget the scrub cursor and record the finished scrub, in one commit."""
        with self._store._lock:
            catalog = self._store.catalog
            catalog.set_state("scrub", None, commit=False)
            catalog.set_state("last_scrub", last)

    # -------------------------------------------------------------- compaction

    def segments_to_compact(self, worth: Callable[[SegmentRecord], bool]
                            ) -> tuple[list[SegmentRecord], int]:
        """Segments worth compacting (the one being appended to is sealed first when it is
        itself worth it) and the stripe id below which writes must settle before any of
        them is touched; atomic with the write path's reservations."""
        store = self._store
        with store._lock:
            segments = store.catalog.segments()
            current = store.current_segment
            for seg in segments:
                if seg.id == current and seg.data_bytes and worth(seg):
                    store.seal_segment()
                    current = None
            chosen = [seg for seg in segments if seg.id != current and worth(seg)]
            return chosen, store.next_stripe_id

    def wait_stripes_settled(self, below: int) -> None:
        self._store.wait_stripes_settled(below)

    def live_chunks_in_segment(self, segment: int) -> list[ChunkRecord]:
        with self._store._lock:
            return self._store.catalog.live_chunks_in_segment(segment)

    def write_stripes_for(self, chunks: Sequence[tuple[bytes, bytes]]
                          ) -> tuple[list[StripeRecord], list[ChunkRecord]]:
        """Write verified chunks into fresh stripes (no catalog change); `finish_stripes`
        after `move_chunks`."""
        return self._store.write_stripes_for(chunks)

    def move_chunks(self, stripes: Sequence[StripeRecord], moved: Sequence[ChunkRecord],
                    old_stripes: dict[bytes, int]) -> list[bytes]:
        """Point chunks at their new copies (Catalog.move_chunks), durably."""
        with self._store._lock:
            return self._store.catalog.move_chunks(stripes, self.nparity, moved, old_stripes)

    def finish_stripes(self, ids: Sequence[int]) -> None:
        self._store.finish_stripes(ids)

    def drop_segment(self, segment: int) -> dict[int, Path] | None:
        """Forget a segment whose live chunks all moved; returns the members to delete its
        files from, or None when a live chunk still points into it (nothing changed)."""
        with self._store._lock:
            try:
                self._store.catalog.drop_segment(segment)
            except ValueError:
                return None
            return dict(self._store.present)

    # ----------------------------------------------------------------- rebuild

    def check_rebuild_target(self, index: int, onto: Path) -> None:
        """RebuildArgumentError unless slot `index` may be rebuilt onto `onto`."""
        def probe_present() -> dict[int, Path]:
            self._store.verify_members()
            return dict(self._store.present)

        with self._store._lock:
            check_target(self._store.member_count, probe_present, index, onto)

    def switch_over(self, index: int, target: MemberRoot) -> int:
        """Let new writes include the rebuild target; returns the first stripe id they get
        (every stripe below it is the rebuild's to finish)."""
        store = self._store
        with store._lock:
            store.admit(index, target)
            return store.next_stripe_id

    def withdraw(self, index: int, path: Path) -> None:
        self._store.withdraw(index, path)

    def join_rebuilt(self, index: int, target: MemberRoot, member_uuid: str,
                     marker: str) -> None:
        """Make a finished rebuild target a member: label it, bump the generation on
        every member, forget the rebuild's progress, and reopen the catalog so that it
        gets a copy there. Members that vanished meanwhile are failed, not labelled."""
        store = self._store
        with store._lock:
            dropped = store.members.drop_invalid()
            if index in dropped:
                raise RebuildError(
                    f"the rebuild target {target.path} vanished before it was labelled")
            members = list(store.label.members)
            members[index] = member_uuid
            new = store.label.next_epoch(
                members=tuple(members),
                failed=tuple(sorted((set(store.label.failed) | set(dropped)) - {index})),
            )
            write_label_at(target, new.for_member(index))
            target.needs_label = True
            store.members.write_labels(new)
            store.label = new
            store.catalog.set_state("rebuild", None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker, dir_fd=target.fd)
            store.reopen_catalog()
            store.emit(StoreEvent("generation-bumped", detail=f"generation {new.generation}"))
