"""The fs layer's lookups for work the kernel did not ask for (the policy gate's checks, the
trash, restores): `peek`, `names_of` and `resolve` find entries without taking a kernel
reference, so an unlinked file is purged at once afterwards, as if nobody had looked."""

from __future__ import annotations

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem, errors
from tests import fs_util

R = ROOT_CALLER
# The four-member array, its store and a filesystem on it, by name (tests/fs_util.py).
members, store, fs = fs_util.members, fs_util.store, fs_util.fs


async def test_resolve_and_peek_find_entries_without_a_kernel_reference(fs: Filesystem) -> None:
    a = fs.mkdir(ROOT_INODE, b"a", 0o755, R)
    b = fs.mkdir(a.ino, b"b", 0o755, R)
    f = fs.create(b.ino, b"f", 0o644, R)
    await fs.release(f.ino)
    for ino in (a.ino, b.ino, f.ino):
        fs.forget(ino, 1)  # as the kernel would: it holds none of them now

    found = fs.resolve(b"/a/b/f")
    assert found is not None and found.ino == f.ino
    assert fs.resolve(b"a/b") == fs.peek(a.ino, b"b")
    assert fs.resolve(b"") == fs.resolve(b"/") == fs.getattr(ROOT_INODE)
    assert fs.resolve(b"/a/missing/f") is None
    assert fs.resolve(b"f", start=b.ino) == fs.peek(b.ino, b"f")
    assert fs.peek(b.ino, b"nothing") is None
    assert fs.names_of(f.ino) == [(b.ino, b"f")]
    assert [fs.lookup_count(i) for i in (a.ino, b.ino, f.ino)] == [0, 0, 0]

    # Nobody holds it, so unlinking purges it at once: the lookups left nothing behind.
    fs.unlink(b.ino, b"f", R)
    with pytest.raises(errors.NotFound):
        fs.getattr(f.ino)
