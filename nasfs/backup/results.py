"""How a run ended, in one word and one sentence, from rsync's and rclone's exit codes.

Results: `ok`; `vanished` (complete, but source files vanished while copying: cannot happen
from a snapshot, kept for honesty); `partial` (some files could not be copied: the
generation stays incomplete); `destination_full`; `destination_missing` (disk not plugged
in, unplugged mid-run, host unreachable); `cancelled`; `failed` (anything else, with the
tool's own words). Only `ok` and `vanished` make a generation and let retention run.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasfs.errors import NasfsError
from nasfs.wire import codes

GOOD = frozenset({"ok", "vanished"})

# rsync(1) EXIT VALUES
_RSYNC = {
    1: "syntax or usage error", 2: "protocol incompatibility",
    3: "errors selecting input/output files or folders",
    4: "requested action not supported", 5: "error starting the client-server protocol",
    10: "error in socket I/O", 11: "error in file I/O", 12: "error in the rsync data stream",
    13: "errors with program diagnostics", 14: "error in IPC code",
    20: "received SIGUSR1 or SIGINT", 21: "some error returned by waitpid()",
    22: "error allocating core memory buffers",
    23: "partial transfer due to error", 24: "partial transfer due to vanished source files",
    25: "the --max-delete limit stopped deletions", 30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection", 255: "the ssh connection failed",
}
# rclone(1) "Exit Code"
_RCLONE = {
    1: "syntax or usage error", 2: "error not otherwise categorised",
    3: "folder not found", 4: "file not found", 5: "temporary error (retries failed)",
    6: "less serious errors", 7: "fatal error (the remote refused: quota, account)",
    8: "transfer limit exceeded", 9: "no files transferred",
}
_FULL_WORDS = ("No space left on device", "Disk quota exceeded", "ENOSPC",
               "insufficient storage", "507 ", "quota exceeded", "QuotaExceeded")
_GONE_WORDS = ("Input/output error", "Transport endpoint is not connected",
               "No such device", "Connection refused", "Connection timed out",
               "No route to host", "Could not resolve hostname", "Connection closed",
               "connection unexpectedly closed", "Broken pipe")


class BackupError(NasfsError):
    """A backup run or operation failed; `result` is its word (see the module docstring)."""

    wire_code = codes.BACKUP

    def __init__(self, message: str, result: str = "failed") -> None:
        super().__init__(message)
        self.result = result


class DestinationMissing(BackupError):
    wire_code = codes.DESTINATION_MISSING

    def __init__(self, message: str) -> None:
        super().__init__(message, "destination_missing")


class DestinationFull(BackupError):
    wire_code = codes.DESTINATION_FULL

    def __init__(self, message: str) -> None:
        super().__init__(message, "destination_full")


@dataclass(frozen=True)
class Outcome:
    result: str
    detail: str


def _last_lines(stderr: str, n: int = 3) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return "; ".join(lines[-n:])


def _cause(stderr: str) -> str | None:
    text = stderr.lower()
    if any(w.lower() in text for w in _FULL_WORDS):
        return "destination_full"
    if any(w.lower() in text for w in _GONE_WORDS):
        return "destination_missing"
    return None


def from_rsync(code: int, stderr: str) -> Outcome:
    if code == 0:
        return Outcome("ok", "complete")
    words = _RSYNC.get(code, f"exit code {code}")
    tail = _last_lines(stderr)
    cause = _cause(stderr)
    if cause == "destination_full":
        return Outcome(cause, f"the destination is full (rsync: {words}; {tail})")
    if code == 24 and cause is None:
        return Outcome("vanished", "complete, but source files vanished during the copy")
    if code == 255 or cause == "destination_missing":
        return Outcome("destination_missing",
                       f"the destination went away during the run (rsync: {words}; {tail})")
    if code == 23:
        return Outcome("partial", f"some files could not be copied (rsync: {tail or words})")
    if code < 0:
        return Outcome("failed", f"rsync was killed (signal {-code}); the next run continues")
    if code == 20:
        return Outcome("failed", f"rsync was stopped ({words}); the next run continues")
    return Outcome("failed", f"rsync failed: {words}" + (f" ({tail})" if tail else ""))


def from_rclone(code: int, stderr: str) -> Outcome:
    if code == 0:
        return Outcome("ok", "complete")
    words = _RCLONE.get(code, f"exit code {code}")
    tail = _last_lines(stderr)
    cause = _cause(stderr)
    if cause == "destination_full" or (code == 7 and "quota" in stderr.lower()):
        return Outcome("destination_full", f"the cloud destination is full (rclone: {words}; "
                                           f"{tail})")
    if cause == "destination_missing":
        return Outcome("destination_missing", f"the cloud destination could not be reached "
                                              f"(rclone: {words}; {tail})")
    if code in (5, 6):
        return Outcome("partial", f"some files could not be copied (rclone: {words}; {tail})")
    if code < 0:
        return Outcome("failed", f"rclone was killed (signal {-code}); the next run continues")
    return Outcome("failed", f"rclone failed: {words}" + (f" ({tail})" if tail else ""))
