"""Shared fixtures. Real FUSE mounts run in a subprocess (pyfuse3's test/util.py pattern).

`fuse_array` gives a `MountedArray`: a fresh 4-member single-parity array in tmp_path,
mounted by `python -m nasfs.fuse.testmount`. Teardown always unmounts (lazily if need be)
and terminates/kills the process, even when the test failed; `unmount()` on the success
path asserts the process exited cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


class MountedArray:
    """An array on member directories in a temp dir, mountable in a child process."""

    def __init__(self, root: Path, members: int = 4, nparity: int = 1) -> None:
        self.root = root
        self.members = [root / f"member{i}" for i in range(members)]
        self.nparity = nparity
        self.mountpoint = root / "mnt"
        self.mountpoint.mkdir()
        for m in self.members:
            m.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None
        self.created = False
        self.log_path = root / "mount.log"

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        """Start the mount process without waiting (for error-path tests)."""
        args = [sys.executable, "-m", "nasfs.fuse.testmount", *extra]
        if not self.created:
            args += ["--create", "--nparity", str(self.nparity)]
            self.created = True
        args += [str(self.mountpoint), *map(str, self.members)]
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=REPO)
        log.close()
        return proc

    def mount(self, *extra: str) -> Path:
        assert self.proc is None, "already mounted"
        self.proc = self.start(*extra)
        self.wait_for_mount()
        return self.mountpoint

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_mount(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.ismount(self.mountpoint):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"mount process exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        pytest.fail(f"{self.mountpoint} did not appear within {timeout}s:\n{self.log()}")

    def unmount(self) -> None:
        """Clean unmount; asserts the mount process flushed and exited with status 0."""
        assert self.proc is not None
        # The kernel may still be dropping the last references of files the test has just
        # closed or removed (seen once in a full run: EBUSY right after an rmdir storm), so a
        # busy mount point is asked again a few times; one that stays busy still fails.
        for _ in range(20):
            tried = subprocess.run(["fusermount3", "-u", str(self.mountpoint)],
                                   capture_output=True, text=True)
            if tried.returncode == 0 or "busy" not in tried.stderr:
                break
            time.sleep(0.25)
        if tried.returncode != 0:
            raise subprocess.CalledProcessError(tried.returncode, tried.args,
                                                tried.stdout, tried.stderr)
        try:
            rc = self.proc.wait(timeout=120)
        finally:
            self.proc = None if self.proc.poll() is not None else self.proc
        assert rc == 0, f"mount process exited with {rc}:\n{self.log()}"
        assert not os.path.ismount(self.mountpoint)

    def remount(self) -> Path:
        self.unmount()
        return self.mount()

    def kill(self) -> None:
        """SIGKILL the mount process (a crash), then drop the dead mount."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False,
                       stderr=subprocess.DEVNULL)

    def cleanup(self) -> None:
        subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False,
                       stderr=subprocess.DEVNULL)
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None


@pytest.fixture
def fuse_array(tmp_path: Path) -> Iterator[MountedArray]:
    """A fresh array, not yet mounted: call `.mount()`."""
    array = MountedArray(tmp_path)
    try:
        yield array
    finally:
        array.cleanup()


@pytest.fixture
def mounted(fuse_array: MountedArray) -> Iterator[MountedArray]:
    """A fresh array, mounted; unmounted cleanly at the end of a passing test."""
    fuse_array.mount()
    yield fuse_array
    if fuse_array.proc is not None:
        fuse_array.unmount()
