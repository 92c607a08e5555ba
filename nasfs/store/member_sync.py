"""Group fsync of one member: concurrent puts share the fsyncs of the files they wrote.

Several puts may be in flight at once (two batches of one file, several files). Each used to
fsync the member's segment file itself, on the member's only I/O thread, so one put's fsync
held up every later put's shard writes to that member, and four writers into one segment
file made four fsyncs where one would do. Now each member has a sync thread beside its
write thread: a put whose shard writes on the member are done registers them here
(`request`) and queues a round (`run`); the round takes every registration made so far and
fsyncs each segment file named once. A registration always precedes the round that covers
it, and its writes precede the registration, so every covered write was complete before
its fsync started: what the put waits for is exactly what a private fsync would give.

Errors are sticky per file: after an fsync of a segment file failed, the kernel may
report a later fsync of it as successful although the pages that failed were dropped, so
every later request naming that file fails with the first error (the store seals the
segment on a write error, so new puts go to a fresh file). A file is named by its segment
and the identity of the member's pinned `nasfs/` folder (`MemberRoot.top_id`: device and
inode), not by the `MemberRoot` object: an object's id() is reused once it is freed, so a
root pinned after another was closed (a replacement disk in the same slot) could inherit
the old disk's failures, and a root of the same folder pinned again must keep them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from nasfs.store.member import SEGMENTS_DIR, MemberRoot

# The pinned `nasfs/` folder of a member: (st_dev, st_ino), as `MemberRoot.top_id`.
FolderId = tuple[int, int]


@dataclass
class SyncRequest:
    """One put's open segment files on one member, waiting to be made durable."""

    root: MemberRoot
    fds: dict[int, int]  # segment id -> an fd the put wrote it through
    created: bool  # the put created a segment file: its folder needs an fsync too
    error: OSError | None = None
    done: bool = field(default=False)


class MemberSync:
    """The fsync rounds of one member slot (rounds run one at a time on its sync thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[SyncRequest] = []
        # (member folder, segment) -> the first fsync error of that file.
        self._failed: dict[tuple[FolderId, int], OSError] = {}
        self.rounds = 0  # fsync rounds that ran (counted for the profile and the tests)
        self.fsyncs = 0  # fsync calls of segment files made by those rounds

    def request(self, req: SyncRequest) -> None:
        """Register a put's files; call only after all its writes to them returned."""
        with self._lock:
            self._waiting.append(req)

    def run(self) -> None:
        """One round: fsync every file registered so far (each once), then its folder."""
        with self._lock:
            todo, self._waiting = self._waiting, []
        if not todo:
            return  # an earlier round covered the caller's request
        self.rounds += 1
        by_root: dict[FolderId, tuple[MemberRoot, dict[int, int], bool]] = {}
        for req in todo:
            key = req.root.top_id
            root, fds, created = by_root.get(key, (req.root, {}, False))
            for seg, fd in req.fds.items():
                fds.setdefault(seg, fd)
            by_root[key] = (root, fds, created or req.created)
        failed: dict[tuple[FolderId, int], OSError] = {}
        for key, (root, fds, created) in by_root.items():
            for seg, fd in fds.items():
                sticky = self._failed.get((key, seg))
                if sticky is not None:
                    failed[(key, seg)] = sticky
                    continue
                try:
                    self.fsyncs += 1
                    os.fsync(fd)
                except OSError as exc:
                    failed[(key, seg)] = exc
            if created:
                try:
                    root.fsync_dir(SEGMENTS_DIR)
                except OSError as exc:
                    # A new file not durably named is lost with its folder: fail all of it.
                    for seg in fds:
                        failed.setdefault((key, seg), exc)
        with self._lock:
            for key_seg, error in failed.items():
                # Kept without its traceback: that holds this round's frame, and with it
                # every request's root and descriptors, for as long as the error is kept.
                self._failed.setdefault(key_seg, error.with_traceback(None))
        for req in todo:
            for seg in req.fds:
                first = failed.get((req.root.top_id, seg))
                if first is not None and req.error is None:
                    req.error = first
            req.done = True
