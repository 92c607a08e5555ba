"""Group fsync of one member (nasfs.store.member_sync): puts whose writes are done share one
round, each file is fsynced once per round, and a failed fsync fails every later request
naming that file. Real member directories and real fsyncs; the failing fsync is of a
descriptor that is closed (EBADF), which the kernel refuses as it would a dead disk's."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.store.member import MemberRoot, prepare_member
from nasfs.store.member_sync import MemberSync, SyncRequest
from nasfs.store.segments import segment_name


@pytest.fixture
def root(tmp_path: Path) -> Iterator[MemberRoot]:
    prepare_member(tmp_path)
    pinned = MemberRoot(tmp_path, needs_label=False)
    yield pinned
    pinned.close()


def written(root: MemberRoot, segment: int, data: bytes) -> int:
    fd = root.open(segment_name(segment), os.O_WRONLY | os.O_CREAT)
    os.pwrite(fd, data, 0)
    return fd


def test_requests_made_before_a_round_share_it(root: MemberRoot) -> None:
    sync = MemberSync()
    fds = [written(root, 1, b"a"), written(root, 1, b"b"), written(root, 2, b"c")]
    try:
        reqs = [SyncRequest(root, {1: fds[0]}, True), SyncRequest(root, {1: fds[1]}, False),
                SyncRequest(root, {2: fds[2]}, True)]
        for req in reqs:
            sync.request(req)
        sync.run()  # the round the first put queued covers all three
        assert all(r.done and r.error is None for r in reqs)
        assert (sync.rounds, sync.fsyncs) == (1, 2)  # one fsync per file, not per put
        sync.run()  # the rounds the other two queued find nothing left to do
        sync.run()
        assert (sync.rounds, sync.fsyncs) == (1, 2)
    finally:
        for fd in fds:
            os.close(fd)


def test_a_failed_fsync_fails_every_later_request_for_that_file(root: MemberRoot) -> None:
    sync = MemberSync()
    good = written(root, 1, b"later")
    other = written(root, 2, b"elsewhere")
    dead = written(root, 1, b"lost")
    os.close(dead)  # its fsync fails (nothing is opened after this to reuse the number)
    sync.request(SyncRequest(root, {1: dead}, False))
    try:
        failed = SyncRequest(root, {1: good}, False)
        sync.request(failed)
        sync.run()
        assert failed.error is not None and failed.error.errno == errno.EBADF
        # The same file later, through a good descriptor: still refused (the kernel may
        # report a later fsync as fine although the pages that failed are gone).
        later = SyncRequest(root, {1: good}, False)
        fine = SyncRequest(root, {2: other}, False)
        sync.request(later)
        sync.request(fine)
        sync.run()
        assert later.error is not None and later.error.errno == errno.EBADF
        assert fine.done and fine.error is None
    finally:
        os.close(good)
        os.close(other)



def failed_once(sync: MemberSync, path: Path, segment: int) -> int:
    """Pin the member at `path`, fail an fsync of `segment` there through `sync`, close the
    root again; returns the id() the closed root had (nothing holds the object now)."""
    root = MemberRoot(path, needs_label=False)
    dead = written(root, segment, b"lost")
    os.close(dead)  # its fsync fails with EBADF
    req = SyncRequest(root, {segment: dead}, False)
    sync.request(req)
    sync.run()
    assert req.error is not None and req.error.errno == errno.EBADF
    freed = id(root)
    root.close()
    # The root is freed last, so its address is the next one handed out for an object of
    # its size (freed with it, the request would otherwise be freed after it).
    del req
    del root
    return freed


def test_a_new_root_in_a_freed_objects_place_inherits_no_failure(tmp_path: Path) -> None:
    # A replacement disk pinned in the slot after the failed one was closed: CPython hands
    # a new MemberRoot the freed object's address, and a key by id() would charge it the
    # old disk's failure and fail its first put. (The old code was saved from it only by
    # accident: the kept error's traceback held the round's frame and so the old root.)
    old, new = tmp_path / "old", tmp_path / "new"
    for path in (old, new):
        path.mkdir()
        prepare_member(path)
    for _attempt in range(100):  # another object may take the freed address first
        sync = MemberSync()
        freed = failed_once(sync, old, 1)
        replacement = MemberRoot(new, needs_label=False)
        if id(replacement) == freed:
            break
        replacement.close()
    assert id(replacement) == freed, "CPython did not reuse the freed root's address"
    good = written(replacement, 1, b"fresh")
    try:
        req = SyncRequest(replacement, {1: good}, True)
        sync.request(req)
        sync.run()
        assert req.done and req.error is None
    finally:
        os.close(good)
        replacement.close()


def test_the_same_folder_pinned_again_keeps_its_failure(tmp_path: Path) -> None:
    # The file whose fsync failed is the same file through a new MemberRoot of the same
    # folder: its later fsyncs prove nothing (the failed pages are gone), so it stays
    # refused, as it is through the root that saw the failure.
    sync = MemberSync()
    prepare_member(tmp_path)
    failed_once(sync, tmp_path, 1)
    again = MemberRoot(tmp_path, needs_label=False)
    good = written(again, 1, b"later")
    try:
        req = SyncRequest(again, {1: good}, False)
        sync.request(req)
        sync.run()
        assert req.error is not None and req.error.errno == errno.EBADF
    finally:
        os.close(good)
        again.close()
