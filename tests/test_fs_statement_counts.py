"""SQL statements of a create's requests (counted on the database's primary copy, so they do
not depend on the machine's load): the kernel's security.capability probe before a write,
a negative lookup before a create and the release after it read nothing they need not, and
the errors the skipped reads gave (an unknown parent or inode) are still given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem, errors
from tests import fs_util

R = ROOT_CALLER
CAPABILITY = b"security.capability"


# The four-member array, its store and a filesystem on it, by name (tests/fs_util.py).
members, store, fs = fs_util.members, fs_util.store, fs_util.fs


@contextmanager
def statements(fs: Filesystem) -> Iterator[list[str]]:
    ran: list[str] = []
    conn = fs.db.conn  # type: ignore[attr-defined]
    conn.set_trace_callback(ran.append)
    try:
        yield ran
    finally:
        conn.set_trace_callback(None)


async def test_a_create_reads_only_what_it_needs(fs: Filesystem) -> None:
    d = fs.mkdir(ROOT_INODE, b"d", 0o755, R)  # referenced by the kernel, as after a LOOKUP
    with statements(fs) as ran:
        assert fs.lookup(d.ino, b"f", R) is None
    assert len(ran) == 1  # the entry; the parent is known to exist
    f = fs.create(d.ino, b"f", 0o644, R)
    with statements(fs) as ran, pytest.raises(errors.NoSuchAttribute):
        fs.getxattr(f.ino, CAPABILITY)
    assert len(ran) == 1  # the attribute; the open, referenced file exists
    with statements(fs) as ran:
        await fs.release(f.ino)
    assert ran == []  # still referenced: forget decides whether it goes


async def test_unreferenced_parents_and_inodes_are_still_checked(fs: Filesystem) -> None:
    with pytest.raises(errors.NotFound):
        fs.lookup(999_999, b"f", R)
    with pytest.raises(errors.NotFound):
        fs.getxattr(999_999, CAPABILITY)
    f = fs.create(ROOT_INODE, b"f", 0o644, R)
    fs.forget(f.ino, 1)  # the kernel dropped it; the file is still open
    with pytest.raises(errors.NotADirectory):
        fs.lookup(f.ino, b"x", R)
    # Unlinked while open, no longer referenced: it goes at its release.
    fs.unlink(ROOT_INODE, b"f", R)
    await fs.release(f.ino)
    assert fs.repo.get_inode(f.ino) is None
