"""Helpers of the full-array tests: tiny tmpfs members, filling them, checking what survived."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import MountedArray

MIB = 1 << 20


@contextmanager
def tmpfs_members(root: Path, sizes_mib: list[int]) -> Iterator[list[Path]]:
    """One real tmpfs of the given size per member, unmounted at the end."""
    members: list[Path] = []
    try:
        for i, size in enumerate(sizes_mib):
            m = root / f"member{i}"
            m.mkdir()
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs",
                                   str(m)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.fail(f"cannot mount a tmpfs on {m}: {done.stderr.strip()}")
            members.append(m)
        yield members
    finally:
        for m in members:
            subprocess.run(["umount", "-l", str(m)], check=False)


@contextmanager
def tiny_array(root: Path, sizes_mib: list[int], nparity: int = 1) -> Iterator[MountedArray]:
    """A MountedArray whose members are tiny tmpfs filesystems (not mounted yet)."""
    array_root = root / "array"
    array_root.mkdir()
    array = MountedArray(array_root, members=0, nparity=nparity)
    with tmpfs_members(array_root, sizes_mib) as members:
        array.members = members
        try:
            yield array
        finally:
            array.cleanup()


def no_space(exc: OSError) -> bool:
    return exc.errno == errno.ENOSPC


def write_file(path: Path, data: bytes, *, fsync: bool = False) -> bool:
    """Write a whole file; True when every call succeeded (the write is acknowledged),
    False on ENOSPC (the file may hold a prefix). Any other error fails the test."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        if no_space(exc):
            return False
        raise
    ok = True
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    except OSError as exc:
        if not no_space(exc):
            raise
        ok = False
    finally:
        try:
            os.close(fd)
        except OSError as exc:
            if not no_space(exc):
                raise
            ok = False
    return ok


def fill(mnt: Path, prefix: str, sizes: Iterator[int], data_for: dict[str, bytes],
         *, fsync: bool = False, limit: int = 100_000) -> int:
    """Write files until the array says ENOSPC; acknowledged ones go into `data_for`.
    Returns how many were acknowledged."""
    count = 0
    for i, size in enumerate(sizes):
        if i >= limit:
            pytest.fail(f"the array took {limit} files and never said it was full")
        name = f"{prefix}{i:05d}"
        data = os.urandom(size)
        if not write_file(mnt / name, data, fsync=fsync):
            return count
        data_for[name] = data
        count += 1
    return count


def check_files(mnt: Path, expected: dict[str, bytes]) -> None:
    for name, data in expected.items():
        got = (mnt / name).read_bytes()
        assert got == data, f"{name}: acknowledged content lost ({len(got)} of {len(data)} bytes)"


def fill_disk(disk: Path) -> Path:
    """Take every free byte of the filesystem holding `disk` with a filler file (as
    something other than nasfs filling a member's disk would); remove it to give the space
    back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    block = b"\xff" * (64 << 10)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(fd)
    return filler
