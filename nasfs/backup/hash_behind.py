"""Hashing a local generation's files while rsync is still copying the rest.

The manifest of a generation on this box holds the BLAKE3 of each file's copy. Read after
the copy, that is a second pass over every byte (0.43 s per GiB on one core here, most of
what a big tree's run spent after rsync). `HashBehind` does it during the copy: rsync names
each file it has sent (`--out-format`, after the file's data), and a thread hashes the
copy at that name while rsync goes on with the next.

Such a digest is only a candidate. rsync's line says the sender is done, not that the
receiver has renamed its temporary file into place; the name may still hold an older copy
(a resumed run), or nothing yet. So each digest is kept with the identity and state of
the inode it was read from (device, inode, size, mtime, ctime), taken before and after the
read and required equal; `manifest.build_local` uses it only when the file at that path
has exactly that identity and state at the end, and hashes the file itself otherwise. A
file rsync replaced after the hash is another inode; one changed in place has another
ctime (rsync never writes into a file that is in place: no `--inplace`, a changed file is
written to a temporary one and renamed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import stat
import threading
from pathlib import Path

from nasfs.backup.manifest import Hashed, digest, state_key

log = logging.getLogger(__name__)

# rsync's --out-format for the lines `HashBehind` reads. `%b` (bytes sent) makes rsync
# print the line after the file's data instead of before it (rsync logs before the
# transfer when the format has no transfer statistics).
PREFIX = b"nasfs-sent "
OUT_FORMAT = f"--out-format={PREFIX.decode()}%b %n"
HASH_NICE = 19
# Smaller files are left to the manifest, which reads them after the copy as cheaply (2,000
# files of 4 KiB in 0.12 s): hashed here, each would take the interpreter lock from the
# thread serving rsync's reads a few times for next to no gain (one run each at load 2:
# the daemon 2.58 CPU-s with every file hashed behind, 2.32 without; inside this
# machine's noise, but no gain either).
MIN_BYTES = 1 << 20
# rsync writes a name's unprintable bytes as \#ooo (octal).
_ESCAPE = re.compile(rb"\\#([0-7]{3})")


def sent_path(line: bytes, min_bytes: int = 0) -> str | None:
    """The path of one of rsync's `OUT_FORMAT` lines (None for other lines, folders and
    files of which rsync sent fewer than `min_bytes`)."""
    if not line.startswith(PREFIX):
        return None
    sent, _, name = line[len(PREFIX):].partition(b" ")
    if not name or name.endswith(b"/") or not sent.isdigit() or int(sent) < min_bytes:
        return None
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), name)
    return raw.decode("utf-8", "surrogateescape")


def hash_file(path: Path) -> Hashed | None:
    """The digest of the regular file at `path` with the state it had while read (None:
    not a regular file, gone, or changed while being read). O_NONBLOCK: a FIFO of that
    name is not waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # never a link's
        with open(fd, "rb", buffering=0) as f:
            before = os.fstat(f.fileno())
            if not stat.S_ISREG(before.st_mode):
                return None
            hexdigest, n = digest(f)
            after = os.fstat(f.fileno())
    except OSError:
        return None
    if state_key(before) != state_key(after) or n != before.st_size:
        return None
    return Hashed(state_key(after), hexdigest)


class HashBehind:
    """A thread hashing the files of `folder` that rsync reports sent (`line`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.digests: dict[str, Hashed] = {}
        self._todo: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._final = threading.Event()  # the copy is over
        self._tid: int | None = None
        self._thread = threading.Thread(target=self._work, name="backup-hash-behind",
                                        daemon=True)
        self._thread.start()

    def line(self, line: bytes) -> bool:
        """Take one line of rsync's output; True when it was an `OUT_FORMAT` line."""
        if not line.startswith(PREFIX):
            return False
        path = sent_path(line, MIN_BYTES)
        if path is not None:
            self._todo.put(path)
        return True

    def finish(self, *, drain: bool = True) -> dict[str, Hashed]:
        """Wait for the thread (after hashing what is queued when `drain`, else at once)
        and return the digests: path → Hashed."""
        if not drain:
            self._stop.set()
        self._final.set()
        if self._tid is not None:  # now, not after the file it may be hashing at nice 19
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self._tid, 0)
        self._todo.put(None)
        self._thread.join()
        return self.digests

    def _work(self) -> None:
        # While rsync copies, the hash takes only CPU time that rsync and the daemon's
        # FUSE thread (serving rsync's reads) leave: on a busy machine it waits for the
        # end instead of slowing the copy. A thread's nice is its own on Linux.
        tid = self._tid = threading.get_native_id()
        if not self._final.is_set():
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, tid, HASH_NICE)
        reniced = False
        # Names not in place yet (the receiver had not renamed its temporary file when
        # the sender's line came) are tried once more when the next name comes, or at the
        # end; after that the manifest hashes them.
        later: list[str] = []
        while not self._stop.is_set():
            path = self._todo.get()
            if self._final.is_set() and not reniced:
                # The copy is over: what is left is the run's own work again (lowering a
                # nice needs root, which the daemon is; else it stays low).
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, tid, 0)
                reniced = True
            retry, later = later, []
            for late in retry:
                if self._stop.is_set():
                    return
                self._hash(late)
            if path is None:
                return
            if not self._hash(path):
                later.append(path)

    def _hash(self, path: str) -> bool:
        try:
            hashed = hash_file(self.folder / path)
        except Exception:  # a digest is only ever a shortcut: the manifest re-hashes
            log.warning("could not hash %s while copying", path, exc_info=True)
            return True
        if hashed is None:
            return False
        self.digests[path] = hashed
        return True
