"""SIGKILL while two background batches of one file are in flight.

The child (tests/pipeline_crash_child.py) fsyncs a file's first two records, then has two
more batches in flight at once: the older one's put stopped after its shard writes and
fsyncs, before its catalog commit; the newer one's put durable in the store (its catalog
commit done) but not yet named by the file, because extents are written in batch order.
It is killed in that state (it reports it; nothing here waits for time). After reopening:
the fsynced bytes are all there, the file shows nothing it did not promise (no size ahead
of its data, no zeros or foreign bytes), and the recount after the unclean stop leaves no
reference to either in-flight batch's chunks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem
from nasfs.store import Store
from tests import fs_util
from tests.conftest import REPO
from tests.pipeline_crash_child import ACKED_RECORDS, NAME, RECORD, record

members = fs_util.members
HANG_GUARD_S = 120.0


def _run_child_until_both_in_flight(members: list[Path]) -> int:
    """Start the child, read its reports until both batches are in flight, kill it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.pipeline_crash_child", *map(str, members)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    acked = 0
    seen: set[str] = set()
    # A regression (the newer batch waiting for the held older one) would hang: end it.
    guard = threading.Timer(HANG_GUARD_S, proc.kill)
    guard.start()
    try:
        while not {"held", "stored"} <= seen:
            line = proc.stdout.readline().decode().strip()
            if not line:
                _, err = proc.communicate(timeout=60)
                raise AssertionError(f"the child ended early ({proc.returncode}): "
                                     f"{err.decode(errors='replace')[-3000:]}")
            word, _, rest = line.partition(" ")
            if word == "acked":
                acked = int(rest)
            seen.add(word)
        assert acked == ACKED_RECORDS * RECORD
    finally:
        guard.cancel()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    return acked


async def test_sigkill_with_two_batches_in_flight_keeps_what_fsync_promised(
    members: list[Path],
) -> None:
    acked = _run_child_until_both_in_flight(members)
    in_flight = [Store.ids_of([record(i)])[0] for i in (ACKED_RECORDS, ACKED_RECORDS + 1)]
    with Store.open(members) as store:
        # The state the kill hit: the newer batch durable in the store, the older not.
        older, newer = in_flight
        assert (store.refcount(older), store.refcount(newer)) == (0, 1)
        fs = Filesystem.open(store)  # an unclean stop: references are recounted
        try:
            found = fs.lookup(ROOT_INODE, NAME, ROOT_CALLER)
            assert found is not None
            size = fs.getattr(found.ino).size
            assert size >= acked
            data = await fs.read(found.ino, 0, size)
            expected = b"".join(record(i) for i in range(-(-size // RECORD)))[:size]
            assert data[:acked] == expected[:acked], "fsynced bytes lost"
            assert data == expected, "bytes shown that were never promised"
            for cid in in_flight:
                assert store.refcount(cid) == 0, "an in-flight batch's chunk kept a reference"
        finally:
            await fs.close()
