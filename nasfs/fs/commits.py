"""Committing one volume, and going back to what is on disk when a commit fails.

The lifecycle half of `Filesystem` (nasfs.fs.filesystem), whose methods of these names call
the functions here: mounting (the root directory of a new volume, orphans, the reference
recount after an unclean shutdown), the commit at a quiet moment, the group commit, the
fail-safe's way back (`retry_writes`) and closing. They work on the filesystem's own state
(the open transaction, the generation, kernel references and orphans, the fail-safe, the
data path's quiet moment), which must change together, so they are handed the filesystem
itself, as its own methods are; no other module calls them.

Durability: metadata changes accumulate in one open transaction; `Filesystem.commit()`
(fsync, the group commit every `commit_interval` seconds, close) flushes dirty records to
the store and commits durably, then releases chunks whose last reference went away. When
the metadata cannot be written, the database rolls the transaction back on every copy and
`back_to_disk` puts the rest of the state back as on disk; the caller fails with
CommitFailed (ENOSPC or EIO), and repeated failures turn the volume read-only.
"""

from __future__ import annotations

import contextlib
import logging
import stat
import time
from typing import TYPE_CHECKING

import trio

from nasfs.db import MetadataLostError, WriteFailed
from nasfs.fs import errors
from nasfs.fs.repository import Attributes
from nasfs.fs.schema import ROOT_INODE

if TYPE_CHECKING:
    # The filesystem's own lifecycle in a file of its own: it works on the filesystem's
    # private state, so it names it (nasfs.fs.hosts says why the other parts do not).
    from nasfs.fs.filesystem import Filesystem

log = logging.getLogger(__name__)


def mount(fs: Filesystem) -> None:
    """The last step of opening: the root directory of a new volume, orphans purged, the
    volume marked in use (unclean until `close`), and after an unclean shutdown the store's
    references recounted from the rows (`reconcile`)."""
    repo = fs.repo
    if repo.get_inode(ROOT_INODE) is None:
        now = time.time_ns()
        repo.set_meta("generation", repo.generation)
        repo.set_meta("record_size", fs.data.record_size)
        repo.set_meta("clean", 1)
        repo.insert_inode(
            Attributes(ROOT_INODE, stat.S_IFDIR | 0o755, 0, 0, 2, 0, 0, now, now, now, now)
        )
        log.info("created the root directory of a new filesystem")
    clean = int(repo.get_meta("clean", 1)) == 1
    released: list[bytes] = []
    for ino in repo.orphans():
        released += repo.delete_inode(ino)
    repo.set_meta("clean", 0)
    fs.db.commit(durable=True)
    if not clean:
        counts = repo.chunk_refcounts()
        log.warning("unclean shutdown: reconciling %d chunk references", len(counts))
        fs.store.reconcile(counts)
    elif released:
        fs.store.release(released)


async def commit_when_quiet(fs: Filesystem, durable: bool) -> list[bytes]:
    """Put all buffered data in the store, then commit, so a commit never names data it
    lacks; returns the chunks whose removal that commit made durable.

    Sizes and mtimes reach the database when write() is called, before the data is
    flushed; committing such rows without their data would leave zeros after a crash, in
    unsynced files (the data=ordered promise ext4 makes) and in fsynced ones alike when
    another task's flush of them is still in flight. So the commit waits for every dirty
    and in-flight record (DataPath.at_quiet_moment; a write storm is held at the write
    gate for the last round, so this ends).
    """

    def commit() -> list[bytes]:
        commit_or_go_back(fs, durable)
        if not durable:
            return []
        # No await between the commit and taking the list: exactly the committed removals.
        ids, fs.data.release_after_commit = fs.data.release_after_commit, []
        return ids

    return await fs.data.at_quiet_moment(commit)


def commit_or_go_back(fs: Filesystem, durable: bool) -> None:
    """Commit; when that fails, the namespace is back at the last commit and the caller
    fails with CommitFailed (ENOSPC or EIO). In the read-only state nothing may be
    pending: a change that slipped in is rolled back and refused (EROFS)."""
    if fs.failsafe.read_only:
        if fs.db.in_transaction:
            fs.db.rollback()
            back_to_disk(fs)
            fs.failsafe.check_writable()
        return
    try:
        fs.db.commit(durable=durable)
        fs.repo.touched_names = set()
        fs.repo.touched_inodes = set()
    except WriteFailed as exc:
        # The database rolled back and told metadata_aborted, which went back to disk.
        raise errors.CommitFailed(f"the last changes could not be saved: {exc}",
                                  no_space=exc.no_space) from exc
    except (MetadataLostError, OSError) as exc:
        metadata_aborted(fs, exc)
        raise errors.CommitFailed(f"the last changes could not be saved: {exc}",
                                  no_space=False) from exc
    fs.failsafe.succeeded()


def metadata_aborted(fs: Filesystem, exc: Exception) -> None:
    """The open transaction is gone (rolled back on every copy): the state kept beside
    the database goes back to what is on disk, and the failure counts towards the
    read-only fail-safe state (at once when the last copy is lost)."""
    log.error("metadata changes were rolled back: %s", exc)
    back_to_disk(fs)
    # The last copy lost: no later commit can work, so no point in trying again.
    lost = isinstance(exc, MetadataLostError) or (
        isinstance(exc, WriteFailed) and not exc.no_space)
    if fs.failsafe.failed(str(exc), at_once=lost):
        # Buffered data belongs to changes that can no longer be saved.
        for ino in fs.data.dirty_inodes():
            fs.data.discard(ino)


def back_to_disk(fs: Filesystem) -> None:
    # Chunks whose removal the rolled-back transaction held must not be released (the
    # rows on disk still name them); chunks its flushes stored are named by nothing,
    # so the next mount recounts.
    fs.data.release_after_commit = []
    fs._recount_at_mount = True
    fs._inodes = None
    # A snapshot taken in the transaction moved the live generation on: back with it.
    fs.repo.generation = int(fs.repo.get_meta("generation", fs.repo.generation))
    fs.snapshots.reload()
    fs._uncounted = {ino for ino in fs._uncounted if fs.repo.get_inode(ino)}
    # Buffered data of files whose sizes went back would land beyond them or over
    # older content: the files are as on disk, so are their buffers (none are at the
    # quiet moment a commit runs in).
    for ino in fs.data.dirty_inodes():
        if fs.repo.get_inode(ino) is None:
            fs.data.discard(ino)
    names, fs.repo.touched_names = fs.repo.touched_names, set()
    inodes, fs.repo.touched_inodes = fs.repo.touched_inodes, set()
    for listener in list(fs.changes_undone):
        try:
            listener(names, inodes)
        except Exception:
            log.exception("a listener of undone changes failed")


async def retry_writes(fs: Filesystem) -> None:
    """Leave the read-only state if a durable commit works again (the cause was fixed);
    CommitFailed if it still does not (the state stays)."""
    if not fs.failsafe.read_only:
        return
    try:
        fs.repo.set_meta("clean", 0)
        fs.db.commit(durable=True)
    except (WriteFailed, MetadataLostError, OSError) as exc:
        fs.db.rollback()
        raise errors.CommitFailed(f"the metadata still cannot be saved: {exc}",
                                  no_space=bool(getattr(exc, "no_space", False))) from exc
    fs.failsafe.cleared()


async def commit_durable(fs: Filesystem) -> None:
    ids = await commit_when_quiet(fs, durable=True)
    if ids:
        await trio.to_thread.run_sync(fs.store.release, ids)


async def run_group_commit(fs: Filesystem) -> None:
    """Commit unsynced changes every `commit_interval` seconds until cancelled.

    While it runs, writes that fill a flush batch hand it to a background task here
    (DataPath.flush_behind) instead of waiting for the put; on cancellation the puts in
    flight finish first (they are shielded), then this returns.
    """
    async with trio.open_nursery() as nursery:
        fs._background = nursery
        try:
            while True:
                await trio.sleep(fs.tuning.commit_interval)
                try:
                    await fs.commit()
                except errors.CommitFailed as exc:
                    log.error("group commit failed (%s); will retry", exc)
                except errors.ReadOnly:
                    pass  # nothing may be committed; the state was told when it began
                except Exception:
                    log.exception("group commit failed; will retry")
        finally:
            fs._background = None


async def close(fs: Filesystem) -> None:
    """Flush everything, mark the volume clean, and close the database.

    Always closes the database, even when the last flush fails (a member full or lost
    beyond parity): then the rows naming data that could not be stored are rolled back
    rather than committed (they would read back as zeros), the volume stays marked
    unclean so that the next mount recounts references, and CloseFailed says so. What
    the last commit made durable is kept; nothing is half-written.
    """
    if fs._closed:
        return
    fs._closed = True
    if fs.failsafe.read_only:
        # Nothing is pending (changes were refused); what is on disk stays unclean so
        # that the next mount recounts references.
        log.warning("closing the read-only (fail-safe) volume as it was at its last "
                    "commit: %s", fs.failsafe.reason)
        fs.db.rollback()
        fs.db.close()
        return
    try:
        await fs.commit()
        if not fs._recount_at_mount:
            fs.repo.set_meta("clean", 1)
        fs.db.commit(durable=True)
    except Exception as exc:
        fs.db.rollback()
        with contextlib.suppress(Exception):
            fs.db.close()  # its own failure says less than the first one
        raise errors.CloseFailed(
            f"the last changes could not be saved ({exc}); the filesystem was closed as "
            "it was at its last successful commit (changes since then are lost) and is "
            "checked at the next mount") from exc
    fs.db.close()
