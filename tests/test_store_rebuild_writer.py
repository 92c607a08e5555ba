"""The rebuild's writer thread (nasfs.store.rebuild_writer): shards land where they belong,
a cursor is reported durable only once every shard below it was written and fsynced, a
target that goes away fails the rebuild's next call (and the thread stops cleanly), and a
rebuild stopped part way keeps every stripe it had checked, so the resume starts after
them even before the first regular flush. Real member directories and a real store."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from nasfs.store import Progress, Store
from nasfs.store import events as events_mod
from nasfs.store import rebuild_writer as writer_mod
from nasfs.store.direct_io import ALIGN, Buffer, SegmentFile, Staging
from nasfs.store.errors import RebuildError
from nasfs.store.member import NASFS_DIR, MemberRoot, prepare_member
from nasfs.store.rebuild_writer import ShardWrite, TargetWriter
from nasfs.store.segments import segment_name
from tests.store_util import new_array, random_chunks


def _target(tmp_path: Path) -> MemberRoot:
    onto = tmp_path / "new"
    onto.mkdir()
    prepare_member(onto)
    return MemberRoot(onto, needs_label=False)


def test_shards_land_in_place_and_are_durable_before_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _target(tmp_path)
    written: list[int] = []  # stripe ids, in the order the thread wrote them
    synced_after: list[int] = []  # how many shards were written at each fsync
    real_write, real_fsync = writer_mod.SegmentFile.write, os.fsync

    def recording_write(file: SegmentFile, data: Buffer, offset: int,
                        staging: Staging) -> None:
        real_write(file, data, offset, staging)
        written.append(offset // 1000)

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        synced_after.append(len(written))

    monkeypatch.setattr(writer_mod.SegmentFile, "write", recording_write)
    monkeypatch.setattr(writer_mod.os, "fsync", recording_fsync)
    rng = random.Random(1)
    shards = {i: rng.randbytes(1000) for i in range(40)}
    writer = TargetWriter(target, batch_bytes=3000)
    reported: list[int] = []
    try:
        for first in range(0, 40, 8):
            writer.write([ShardWrite(i, i % 2, i * 1000, 1000, shards[i])
                          for i in range(first, first + 8)])
            if (c := writer.durable()) is not None:
                reported.append(c)
        writer.write([ShardWrite(40, 0, 40_000, 1000, None)])  # unrecoverable: a hole
        writer.finish(41)
        reported.append(writer.durable() or 0)
    finally:
        writer.close()
    assert written == sorted(written) == list(range(40))
    assert reported[-1] == 41 and reported == sorted(reported)
    for cursor in reported:
        # Some fsync came after every shard below the reported cursor was written.
        assert any(n >= min(cursor, 40) for n in synced_after)
    top = target.path / NASFS_DIR  # segment names include their folder
    for segment in (0, 1):
        data = (top / segment_name(segment)).read_bytes()
        for i in range(segment, 40, 2):
            assert data[i * 1000:(i + 1) * 1000] == shards[i]
    assert (top / segment_name(0)).stat().st_size == 41_000  # the hole reaches its end
    target.close()


def test_a_flush_fsyncs_only_the_files_written_since_the_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Shards of ALIGN bytes at aligned offsets: the O_DIRECT path where the target has it.
    target = _target(tmp_path)
    rng = random.Random(2)
    shards = {i: rng.randbytes(ALIGN) for i in range(12)}
    synced: list[int] = []  # descriptors, in the order the thread fsynced them
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(fd)

    monkeypatch.setattr(writer_mod.os, "fsync", recording_fsync)
    writer = TargetWriter(target, batch_bytes=1 << 30)  # flushed only by finish
    try:
        # Stripes 0-5 fill segments 0-2, stripes 6-11 only segment 3.
        writer.write([ShardWrite(i, i // 2, (i % 2) * ALIGN, ALIGN, shards[i])
                      for i in range(6)])
        writer.finish(6)
        fd_of = {seg: writer._files[seg].fd for seg in range(3)}
        assert writer.fsyncs == 3 and set(fd_of.values()) <= set(synced)
        synced.clear()
        writer.write([ShardWrite(i, 3, (i - 6) * ALIGN, ALIGN, shards[i]) for i in range(6, 12)])
        writer.finish(12)
        assert writer.fsyncs == 4  # segment 3 alone: 0-2 were not written again
        assert writer._files[3].fd in synced and not set(fd_of.values()) & set(synced)
        writer.finish(12)
        assert writer.fsyncs == 4  # nothing written since: nothing to fsync
    finally:
        writer.close()
    top = target.path / NASFS_DIR
    for i, shard in shards.items():
        segment, offset = (i // 2, (i % 2) * ALIGN) if i < 6 else (3, (i - 6) * ALIGN)
        with open(top / segment_name(segment), "rb") as f:
            f.seek(offset)
            assert f.read(ALIGN) == shard
    target.close()


def test_a_target_that_goes_away_fails_the_next_call(tmp_path: Path) -> None:
    target = _target(tmp_path)
    writer = TargetWriter(target, batch_bytes=1)
    try:
        writer.write([ShardWrite(0, 0, 0, 10, b"x" * 10)])
        writer.finish(1)
        shutil.rmtree(target.path)
        writer.write([ShardWrite(1, 0, 10, 10, b"y" * 10)])
        with pytest.raises(RebuildError, match="no longer usable"):
            writer.finish(2)
        with pytest.raises(RebuildError):
            writer.write([ShardWrite(2, 0, 20, 10, b"z" * 10)])
    finally:
        writer.close()
    target.close()


def test_a_stopped_rebuild_keeps_the_stripes_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_mod, "REPORT_INTERVAL", 0.0)
    members = new_array(tmp_path, 4, 1)
    rng = random.Random(7)
    with Store.open(members) as store:
        chunks = random_chunks(rng, 30)
        ids = [cid for start in range(0, 30, 5) for cid in store.put(chunks[start:start + 5])]
    expected = dict(zip(ids, chunks, strict=True))
    shutil.rmtree(members[1])
    target = tmp_path / "new"
    target.mkdir()

    class Stopped(Exception):
        pass

    def stop_at_once(p: Progress) -> None:
        if p.done_bytes > 0:
            raise Stopped

    with Store.open(members) as store, pytest.raises(Stopped):
        store.rebuild(1, target, progress=stop_at_once)
    # Far below REBUILD_BATCH_BYTES, so no regular flush ran: the stop itself saved it.
    with Store.open([*members, target]) as store:
        report = store.rebuild(1, target)
        assert report.resumed_from > 0
        assert store.scrub().clean
    with Store.open([members[0], target, members[2], members[3]]) as store:
        assert store.health().state == "healthy"
        for cid, data in expected.items():
            assert store.get(cid) == data
