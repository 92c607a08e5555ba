"""Starting the daemon in the background and hearing back whether the mount came up.

`nasfs mount` without `--foreground` re-executes itself as a detached child (its own
session, stdin from /dev/null, output to a log file) with `--ready-fd N`. The child writes
one line to that pipe: `ready PID` once the mount and the control socket are up, or
`error CODE MESSAGE` if it could not start (CODE: its exit code, nasfs.exitcodes). The
parent waits for that line (or for the child to die) and returns only then, so
`nasfs mount && ls MOUNTPOINT` works in scripts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.wire import codes

log = logging.getLogger(__name__)


class DaemonStartFailed(NasfsError):
    """The background daemon reported a failure, or died before it was ready."""

    wire_code = codes.DAEMON_START_FAILED

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # the child's, so `nasfs mount` exits as it would have


class ReadyPipe:
    """The child's end of the readiness pipe. Closing it without a line means failure."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.write(fd, (line.replace("\n", " ") + "\n").encode())
        with contextlib.suppress(OSError):
            os.close(fd)

    def ready(self) -> None:
        self._send(f"ready {os.getpid()}")

    def failed(self, message: str, exit_code: int = 1) -> None:
        self._send(f"error {exit_code} {message}")


def start_background(argv: Sequence[str], log_file: Path) -> int:
    """Run `nasfs ARGV --foreground --ready-fd N` detached; return its pid once it is ready.

    Raises DaemonStartFailed with the child's own message (or the tail of its log).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    command = [sys.executable, "-m", "nasfs.cli.main", *argv,
               "--foreground", "--ready-fd", str(write_fd)]
    try:
        with open(log_file, "ab") as log_stream:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_stream, stderr=log_stream,
                pass_fds=(write_fd,), start_new_session=True, close_fds=True,
            )
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        line = reader.readline().decode(errors="replace").strip()
    word, _, rest = line.partition(" ")
    if word == "ready":
        return child.pid
    if word == "error":
        child.wait()
        code, _, message = rest.partition(" ")
        if code.isdigit():
            raise DaemonStartFailed(message, int(code))
        raise DaemonStartFailed(rest)
    status = child.wait()
    raise DaemonStartFailed(
        f"the nasfs daemon exited with status {status} before the mount was up; "
        f"its log {log_file} ends with: {_tail(log_file)}"
    )


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
