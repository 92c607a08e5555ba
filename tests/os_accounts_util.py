"""Keeping the machine's libnss-extrausers files as a test found them.

The files are global (libnss-extrausers reads /var/lib/extrausers and nothing else), so a
test that publishes NAS accounts saves them first and puts them back afterwards; the uids
and gids used live in a range (46100-46199) no other test uses.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nasfs.policy import osaccounts

FILES = ("passwd", "group", "shadow")


def extrausers_ready() -> bool:
    """libnss-extrausers installed and named in nsswitch.conf (scripts/setup does both)."""
    try:
        nss = Path("/etc/nsswitch.conf").read_text()
    except FileNotFoundError:
        return False
    libs = ("/usr/lib/libnss_extrausers.so.2", "/lib/x86_64-linux-gnu/libnss_extrausers.so.2")
    return "extrausers" in nss and any(Path(lib).exists() for lib in libs)


@contextmanager
def preserved_extrausers() -> Iterator[Path]:
    """The extrausers directory, restored to its prior contents on exit."""
    if not extrausers_ready():
        pytest.fail("libnss-extrausers is not set up: run scripts/setup")
    directory = osaccounts.EXTRAUSERS_DIR
    # One test process at a time may own the machine's accounts (other worktrees' test runs
    # on the same box too): they wait here for each other.
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".nasfs-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _preserved(directory)


def _preserved(directory: Path) -> Iterator[Path]:
    saved: dict[str, bytes | None] = {}
    for name in FILES:
        path = directory / name
        saved[name] = path.read_bytes() if path.exists() else None
    try:
        yield directory
    finally:
        for name, data in saved.items():
            path = directory / name
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)
