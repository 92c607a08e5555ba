"""A writer that rewrites a set of files in place, round after round, and the check that a
copy of them (a snapshot, a backup generation) holds one moment of that writer.

Each file's content names its round and its index in every 8 bytes, and one rewrite is one
FUSE write request (256 KiB), so a copy shows a torn file as content of no single round.
The writer goes f0..f7 each round, so at any instant the rounds read r, ..., r, r-1, ..., r-1.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
from pathlib import Path
from types import TracebackType

FILES = 8
SIZE = 256 << 10  # one FUSE write request each: a file's rewrite is one atomic step


def content(round_: int, index: int) -> bytes:
    return struct.pack("<II", round_, index) * (SIZE // 8)


class Rewriter:
    """While entered, a thread rewrites files f0..f7 of `folder` in place (same inodes, new
    data); `rounds` is the last round it completed. Leaving stops it and closes the files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rounds = 0
        self._fds: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Rewriter:
        try:
            for i in range(FILES):
                fd = os.open(self.folder / f"f{i}", os.O_RDWR | os.O_CREAT, 0o644)
                self._fds.append(fd)
                os.pwrite(fd, content(0, i), 0)
            self._thread.start()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._close()

    def _run(self) -> None:
        r = 0
        while not self._stop.is_set():
            r += 1
            for i, fd in enumerate(self._fds):
                os.pwrite(fd, content(r, i), 0)
            self.rounds = r

    def _close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


def one_moment(files: list[bytes], where: str, before: int) -> tuple[int, ...]:
    """The round of each file in a copy of f0..f7 (`files`), asserting that each is whole, that
    together they are one moment of the writer, and that round `before` (done before the copy
    began) is in it."""
    per_file = []
    for i, data in enumerate(files):
        r, idx = struct.unpack("<II", data[:8])
        # Whole: one round's complete content, never a mix of two writes.
        assert idx == i and data == content(r, i), f"f{i} is torn in {where}"
        per_file.append(r)
    assert len(per_file) == FILES
    assert all(a >= b for a, b in itertools.pairwise(per_file)), per_file
    assert per_file[0] - per_file[-1] <= 1, per_file
    assert per_file[-1] >= before, "a write done before the copy began is missing"
    return tuple(per_file)
