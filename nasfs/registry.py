"""Run-time files that say which process owns which array, and where to reach its daemon.

In the run directory (default `/run/nasfs`), for an array whose key is its UUID:

    KEY.lock   write-locked (an open-file-description lock, F_OFD_SETLK) by whoever has the
               array open: the daemon for as long as it runs, or `nasfs status` while it
               reads the array offline. Holds the holder's pid and purpose; the kernel drops
               the lock when the process dies, so a kill -9 leaves no stale ownership.
    KEY.sock   the daemon's control socket.
    KEY.json   the daemon record: pid, socket, mountpoint, members, start time. The client
               finds a daemon by mountpoint by reading these records.
    KEY.outcome  how the last daemon of the array ended: its pid and the problems of its
               stop sequence (none after a clean stop). Written just before the lock is
               released, so `nasfs umount` can tell a clean stop from a troubled one, and
               from a crash (no outcome of that pid at all).

A record or socket whose lock is not held is stale (a killed daemon) and is ignored; the next
daemon of that array replaces them. No module here imports trio: the client uses it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.wire import codes

log = logging.getLogger(__name__)

# struct flock on 64-bit Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid.
# OFD locks rather than lockf(): they belong to the open file, so another descriptor of the
# lock file closed in the same process (a probe, say) cannot silently drop the lock.
_FLOCK = "hhqqi4x"


class ArrayBusy(NasfsError):
    """Another process (a daemon, or an offline reader) has the array open."""

    wire_code = codes.ARRAY_BUSY


@dataclass(frozen=True)
class DaemonRecord:
    """What a running daemon publishes about itself in KEY.json."""

    key: str
    pid: int
    socket: str
    mountpoint: str | None
    members: list[str]
    started: float


def _flock(lock_type: int) -> bytes:
    return struct.pack(_FLOCK, lock_type, os.SEEK_SET, 0, 0, 0)


def lock_path(run_dir: Path, key: str) -> Path:
    return run_dir / f"{key}.lock"


def socket_path(run_dir: Path, key: str) -> Path:
    return run_dir / f"{key}.sock"


def record_path(run_dir: Path, key: str) -> Path:
    return run_dir / f"{key}.json"


def lock_holder(path: Path) -> tuple[int, str] | None:
    """(pid, purpose) of the process holding the lock at `path`, or None if nobody does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        # GETLK tests without taking the lock, so probing never makes a starting daemon fail.
        answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock(fcntl.F_WRLCK))
        if struct.unpack(_FLOCK, answer)[0] == fcntl.F_UNLCK:
            return None
        pid_text, _, purpose = os.read(fd, 4096).decode(errors="replace").partition(" ")
        pid = int(pid_text) if pid_text.isdigit() else 0
        return pid, purpose.strip() or "unknown"
    finally:
        os.close(fd)


class ArrayLock:
    """Exclusive ownership of one array by this process (see the module docstring)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(
        cls, run_dir: Path, key: str, purpose: str, *, what: str = "the array",
    ) -> ArrayLock:
        """Take the lock or raise ArrayBusy naming the holder.

        `purpose` is recorded for others' messages, e.g. "daemon mounted at /srv/nas".
        """
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        path = lock_path(run_dir, key)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK))
        except OSError:
            os.close(fd)
            holder = lock_holder(path)
            who = f"pid {holder[0]} ({holder[1]})" if holder else "another process"
            raise ArrayBusy(f"{what} is in use by {who}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {purpose}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> ArrayLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def write_record(run_dir: Path, record: DaemonRecord) -> None:
    path = record_path(run_dir, record.key)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def outcome_path(run_dir: Path, key: str) -> Path:
    return run_dir / f"{key}.outcome"


def write_outcome(run_dir: Path, key: str, problems: list[str]) -> None:
    """Say how this process's daemon ended (best effort: a full run dir loses only this)."""
    path = outcome_path(run_dir, key)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps({"pid": os.getpid(), "problems": problems}))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


def read_outcome(run_dir: Path, key: str, pid: int) -> list[str] | None:
    """The stop problems of daemon `pid` of array `key`; None if it left no outcome."""
    try:
        data = json.loads(outcome_path(run_dir, key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("pid") != pid:
        return None
    return [str(p) for p in data.get("problems") or []]


def remove_record(run_dir: Path, key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(record_path(run_dir, key))


def read_record(run_dir: Path, key: str) -> DaemonRecord | None:
    """The record of the live daemon of array `key`, or None (absent or stale)."""
    path = record_path(run_dir, key)
    try:
        data = json.loads(path.read_text())
        record = DaemonRecord(**data)
    except (OSError, ValueError, TypeError):
        return None
    holder = lock_holder(lock_path(run_dir, key))
    if holder is None or holder[0] != record.pid:
        return None
    return record


def live_records(run_dir: Path) -> list[DaemonRecord]:
    """Records of all daemons that are running now (stale records are skipped)."""
    records = []
    try:
        paths = sorted(run_dir.glob("*.json"))
    except OSError:
        return []
    for path in paths:
        record = read_record(run_dir, path.stem)
        if record is not None:
            records.append(record)
    return records


def find_by_mountpoint(run_dir: Path, mountpoint: Path) -> DaemonRecord | None:
    target = _resolved(mountpoint)
    for record in live_records(run_dir):
        if record.mountpoint and _resolved(Path(record.mountpoint)) == target:
            return record
    return None


def _resolved(mountpoint: Path, depth: int = 0) -> str:
    """The real path of a mount point, without ever stat-ing the mount point itself.

    Stat-ing a mount root asks its FUSE daemon, which hangs while that daemon is stuck
    (and `umount` must not hang). So the parent is resolved, and the last component is
    followed only when the parent's listing says it is a symlink (readdir's d_type).
    """
    path = os.path.abspath(mountpoint)
    parent, name = os.path.realpath(os.path.dirname(path)), os.path.basename(path)
    if depth < 40:
        try:
            with os.scandir(parent) as entries:
                link = next((e for e in entries if e.name == name and e.is_symlink()), None)
            if link is not None:
                return _resolved(Path(parent, os.readlink(link.path)), depth + 1)
        except OSError:
            pass
    return os.path.join(parent, name)


def new_record(
    key: str, socket: Path, mountpoint: Path | None, members: list[Path],
) -> DaemonRecord:
    return DaemonRecord(
        key=key, pid=os.getpid(), socket=str(socket),
        mountpoint=str(mountpoint) if mountpoint else None,
        members=[str(m) for m in members], started=time.time(),
    )
