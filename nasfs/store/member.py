"""Member identity while running: is the directory at a member path still that member?

A member path is normally the mount point of one disk. When the disk goes away, the path
does not: it becomes an empty directory on the system disk (or whatever was mounted or
moved there). So a path is never trusted on its own. At assembly each present member is
*pinned*: the device and inode of its root and of its `nasfs/` folder are recorded and
the `nasfs/` folder is held open. Every file the store creates on a member afterwards
(segment files, label rewrites, healed ranges) is created relative to that open folder,
so it can only ever land in the member that was assembled, never in a directory that
took its place. Before it writes, a code path asks `problem()`: a member whose root or
`nasfs/` folder is gone, moved, replaced, or now on another filesystem, or whose label
vanished, is failed at once instead of written to.

Only mkfs and rebuild create a member's folders (`prepare_member`).

A member's `nasfs/` folder is for root alone (0700): its databases hold every share, user,
file name and access-log row, and its segments the files' bytes, so a local user who could
read them would learn what the gate hides (hidden shares, other users' home folders) and
more. Made so by `prepare_member`; an array made before that is closed when its members
are pinned (`MemberRoot`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from pathlib import Path

from nasfs.durable import fsync_dir

NASFS_DIR = "nasfs"
SEGMENTS_DIR = "segments"
DB_DIR = "db"
LABEL_NAME = "label.json"
PRIVATE = 0o700  # the mode of a member's nasfs/ folder (see the module docstring)

log = logging.getLogger(__name__)


def prepare_member(member: Path) -> None:
    """Create `MEMBER/nasfs/{segments,db}` (mkfs and rebuild only), durably."""
    top = member / NASFS_DIR
    top.mkdir(mode=PRIVATE, exist_ok=True)
    os.chmod(top, PRIVATE)  # also a folder left by an earlier attempt
    for sub in (SEGMENTS_DIR, DB_DIR):
        (top / sub).mkdir(exist_ok=True)
    for d in (top, member):
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class MemberRoot:
    """One pinned member: its path, the identity it had when pinned, its open folder."""

    def __init__(self, path: Path, *, needs_label: bool = True) -> None:
        self.path = Path(path)
        root = os.stat(self.path)
        self.fd = os.open(self.path / NASFS_DIR, os.O_RDONLY | os.O_DIRECTORY)
        try:
            top = os.fstat(self.fd)
            # The open folder must be the one under the path we were given (no race).
            named = os.stat(self.path / NASFS_DIR)
            if (named.st_dev, named.st_ino) != (top.st_dev, top.st_ino):
                raise FileNotFoundError(f"{self.path / NASFS_DIR} changed while it was opened")
        except BaseException:
            os.close(self.fd)
            raise
        self.root_id = (root.st_dev, root.st_ino)
        self.top_id = (top.st_dev, top.st_ino)
        if stat.S_IMODE(top.st_mode) & 0o077:
            self._make_private()
        # A rebuild target gets its label last; until then a missing label is expected.
        self.needs_label = needs_label
        self._closed = False
        self._close_lock = threading.Lock()

    def _make_private(self) -> None:
        """Close the `nasfs/` folder of a member made before it was made 0700 (the mode is
        metadata of the folder pinned, not new content on the member)."""
        try:
            os.fchmod(self.fd, PRIVATE)
        except PermissionError:  # not root (an offline read by another user): leave it
            log.warning("%s is readable by other users; run nasfs as root to close it",
                        self.path / NASFS_DIR)
            return
        log.info("closed %s to other users (mode 0700)", self.path / NASFS_DIR)

    def problem(self) -> str | None:
        """Why this path is no longer the member pinned, or None while it still is."""
        try:
            root = os.stat(self.path)
        except OSError as exc:
            return f"its directory {self.path} is gone ({exc.strerror})"
        if root.st_dev != self.root_id[0]:
            return (f"{self.path} is on another filesystem than when the array was assembled "
                    "(the disk was unmounted or something else is mounted there)")
        if root.st_ino != self.root_id[1]:
            return f"{self.path} is another directory than when the array was assembled"
        try:
            top = os.stat(self.path / NASFS_DIR)
        except OSError:
            return f"its folder {self.path / NASFS_DIR} is gone (the disk was emptied)"
        if (top.st_dev, top.st_ino) != self.top_id:
            return f"its folder {self.path / NASFS_DIR} was replaced by another one"
        if self.needs_label:
            try:
                os.stat(LABEL_NAME, dir_fd=self.fd)
            except OSError:
                return f"its label {self.path / NASFS_DIR / LABEL_NAME} is gone"
        return None

    def io_problem(self) -> str | None:
        """Why the member's filesystem no longer takes I/O, or None while it does: an
        fsync of the pinned folder (nearly free when nothing in it is dirty). `problem()`
        cannot tell: stat answers from the inode cache on a filesystem whose every read
        and write fails (a dead disk, an ext4 that shut itself down)."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            return f"fsync of {self.path / NASFS_DIR} failed: {exc.strerror or exc}"
        return None

    # Everything below works relative to the pinned folder, never through the path.

    def open(self, relative: str, flags: int, mode: int = 0o644) -> int:
        return os.open(relative, flags, mode, dir_fd=self.fd)

    def exists(self, relative: str) -> bool:
        try:
            os.stat(relative, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def fsync_dir(self, relative: str = ".") -> None:
        """The folder `relative` of this member made durable (nasfs.durable)."""
        fsync_dir(relative, dir_fd=self.fd)

    def write_atomic(self, relative: str, data: bytes) -> None:
        """Temporary file, fsync, rename over `relative`, fsync of its folder."""
        tmp = relative + ".tmp"
        fd = self.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, relative, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        self.fsync_dir(os.path.dirname(relative) or ".")

    def close(self) -> None:
        with self._close_lock:
            if not self._closed:
                self._closed = True
                with contextlib.suppress(OSError):
                    os.close(self.fd)
