"""Shard writes with O_DIRECT (nasfs.store.direct_io): what a put writes reaches the segment
files without passing through the page cache, reads back exactly, and a write O_DIRECT
cannot take (an offset or a tail off the alignment, a shard longer than the aligned buffer)
lands all the same. Real member directories on the test machine's disk; whether a page is
cached is asked of the kernel (mincore of a mapping of the file), so nothing stands in for
the kernel's page cache."""

from __future__ import annotations

import ctypes
import mmap
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.store import Store
from nasfs.store import writer as writer_mod
from nasfs.store.direct_io import ALIGN, SegmentFile, Staging
from nasfs.store.member import NASFS_DIR, MemberRoot, prepare_member
from nasfs.store.segments import segment_name
from tests.store_util import new_array, segment_files


def cached_pages(path: Path) -> int:
    """How many of the file's pages the page cache holds, as mincore(2) tells."""
    size = path.stat().st_size
    if not size:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDWR)
    try:
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
            pages = -(-size // mmap.PAGESIZE)
            vec = (ctypes.c_ubyte * pages)()
            anchor = ctypes.c_char.from_buffer(m)
            try:
                if libc.mincore(ctypes.c_void_p(ctypes.addressof(anchor)),
                                ctypes.c_size_t(size), vec) != 0:
                    raise OSError(ctypes.get_errno(), "mincore failed")
            finally:
                del anchor  # the mmap cannot close while exported
            return sum(b & 1 for b in vec)
    finally:
        os.close(fd)


def drop_file_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def supports_direct(folder: Path) -> bool:
    probe = folder / "direct-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    except OSError:
        return False
    os.close(fd)
    probe.unlink()
    return True


@pytest.fixture
def root(tmp_path: Path) -> Iterator[MemberRoot]:
    if not supports_direct(tmp_path):
        pytest.skip(f"{tmp_path}'s filesystem refuses O_DIRECT")
    prepare_member(tmp_path)
    pinned = MemberRoot(tmp_path, needs_label=False)
    yield pinned
    pinned.close()


@pytest.mark.parametrize("direct", [True, False])
def test_a_put_bypasses_the_page_cache_only_when_direct(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool) -> None:
    if not supports_direct(tmp_path):
        pytest.skip(f"{tmp_path}'s filesystem refuses O_DIRECT")
    monkeypatch.setattr(writer_mod, "DIRECT_WRITES", direct)
    members = new_array(tmp_path / "array", 4, 1)
    rng = random.Random(7)
    # Whole 1 MiB records (shards are views of them), a short one and a 7 MiB chunk (its
    # own stripe with shards longer than the aligned buffer).
    chunks = [rng.randbytes(1 << 20) for _ in range(7)] + [rng.randbytes(5000),
                                                          rng.randbytes(7 << 20)]
    with Store.open(members) as store:
        ids = store.put(chunks)
        files = [f for m in members for f in segment_files(m)]
        assert files
        cached = sum(cached_pages(f) for f in files)
        if direct:
            assert cached == 0
        else:  # (> 0, not all: another job's drop_caches may come in between)
            assert cached > 0
        for f in files:
            drop_file_cache(f)
        for cid, data in zip(ids, chunks, strict=True):
            assert store.get(cid) == data  # from the disk, not from cached pages


def test_unaligned_offsets_and_tails_are_written_buffered(root: MemberRoot) -> None:
    rng = random.Random(3)
    name = segment_name(1)
    path = root.path / NASFS_DIR / name
    staging = Staging(2 * ALIGN)
    expected = bytearray(64 * ALIGN)
    writes = [(0, 5 * ALIGN),            # aligned, longer than the buffer: in pieces
              (8 * ALIGN, 3 * ALIGN + 100),  # aligned start, a tail of 100 bytes
              (20 * ALIGN + 512, ALIGN),   # an offset off the alignment
              (30 * ALIGN, 17)]            # shorter than one block
    file = SegmentFile(root, name, direct=True)
    try:
        assert file.direct_fd is not None
        for offset, length in writes:
            data = rng.randbytes(length)
            file.write(memoryview(data), offset, staging)
            expected[offset : offset + length] = data
        os.fsync(file.fd)
    finally:
        assert file.close() is None
        staging.close()
    end = max(o + n for o, n in writes)
    assert path.read_bytes() == bytes(expected[:end])
    drop_file_cache(path)
    assert path.read_bytes() == bytes(expected[:end])

