"""`Client`: typed calls to the daemon of one array, found by socket, mount point or config.

    with Client.connect("/srv/nas") as client:     # a mount point, a socket, or a Config
        print(client.status().state)
        client.scrub(on_progress=lambda p: print(f"{p.fraction:.0%}"))

Synchronous (the console calls it from worker threads; calls on one Client are serialised).
Raises DaemonNotRunning (with how to start one) when no daemon answers, DaemonError for a
refused request, DaemonGone when the daemon dies mid-call.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasfs import registry
from nasfs.client.connection import Connection, DaemonNotRunning
from nasfs.config import Config, default_run_dir
from nasfs.wire import codes
from nasfs.wire.types import ArrayStatus, JobProgress, JobResult, from_dict

ProgressCallback = Callable[[JobProgress], None]

# Seconds a quick call (status, flush) may stay unanswered before the daemon is called stuck.
# Jobs (scrub, rebuild) and umount (which waits for a running job) have no limit.
QUICK_CALL_TIMEOUT = 120.0


def start_hint(mountpoint: Path | str | None, config: Config | None = None) -> str:
    """How to start a daemon, for DaemonNotRunning messages."""
    where = str(mountpoint) if mountpoint else "MOUNTPOINT"
    if config is not None and config.source is not None:
        return f"start it with 'nasfs mount --config {config.source}'"
    return f"start it with 'nasfs mount {where} --array MEMBER...'"


def resolve_socket(target: str | os.PathLike[str] | Config | None,
                   run_dir: Path | None = None) -> tuple[Path, str]:
    """(socket path, hint for DaemonNotRunning) for a socket, mount point or Config.

    Raises DaemonNotRunning when the target names no live daemon.
    """
    if isinstance(target, Config):
        return _resolve_config(target)
    if target is None:
        from nasfs.config import load_config

        # Set by `nasfs demo` for the console it opens: the daemon it just started.
        if os.environ.get("NASFS_SOCKET"):
            return Path(os.environ["NASFS_SOCKET"]), start_hint(None)

        return _resolve_config(load_config())
    path = Path(target)
    run_dir = run_dir or default_run_dir()
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            return path, start_hint(None)
    except OSError:
        pass
    record = registry.find_by_mountpoint(run_dir, path)
    if record is None:
        raise DaemonNotRunning(
            f"no nasfs daemon is running for {path}; {start_hint(path)}")
    return Path(record.socket), start_hint(path)


def _resolve_config(config: Config) -> tuple[Path, str]:
    hint = start_hint(config.mountpoint, config)
    if config.socket is not None:
        return config.socket, hint
    if config.members:
        from nasfs.store.identify import array_uuid

        # By label only: a stale or missing disk in the list must not hide the daemon.
        uuid = array_uuid(list(config.members))
        record = registry.read_record(config.run_dir, uuid)
        if record is None:
            raise DaemonNotRunning(f"no nasfs daemon is running for array {uuid}; {hint}")
        return Path(record.socket), hint
    if config.mountpoint is not None:
        return resolve_socket(config.mountpoint, config.run_dir)
    return _the_only_daemon(config.run_dir)


class ArrayNotNamed(DaemonNotRunning):
    """Several arrays are mounted on this box and the command did not say which one."""

    wire_code = codes.ARRAY_NOT_NAMED
    exit_code = 2  # a usage mistake: the command line has to name one


def _the_only_daemon(run_dir: Path) -> tuple[Path, str]:
    """Nothing names an array: the one running on this box is meant, if there is one."""
    records = registry.live_records(run_dir)
    if len(records) == 1:
        return Path(records[0].socket), start_hint(records[0].mountpoint)
    if records:
        listing = "; ".join(f"{r.mountpoint or 'not mounted'} (array {r.key}, disks "
                            f"{' '.join(r.members)})" for r in records)
        raise ArrayNotNamed(
            f"{len(records)} arrays are mounted on this box, so say which one: "
            f"--mountpoint MOUNTPOINT, --array MEMBER... or --config FILE. They are: {listing}")
    raise DaemonNotRunning(
        "no array is mounted on this box and none was named: mount one (nasfs mount), or "
        "name its member directories with --array MEMBER... or a config file with "
        "--config FILE")


class Client:
    """Typed control calls over one connection (see the module docstring)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @classmethod
    def connect(cls, target: str | os.PathLike[str] | Config | None = None, *,
                run_dir: Path | None = None) -> Client:
        """Connect to the daemon for a socket path, a mount point or a Config.

        With no target: the socket named by $NASFS_SOCKET, else the array of the default
        config file (/etc/nasfs/nasfs.toml), else the one array running on this box
        (ArrayNotNamed when there are several).
        """
        path, hint = resolve_socket(target, run_dir)
        return cls(Connection.open(path, not_running_hint=f"no nasfs daemon answers on {path}; "
                                   f"{hint}"))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             on_progress: Callable[[dict[str, Any]], None] | None = None,
             timeout: float | None = None) -> Any:
        """An untyped call, for methods this client has no typed wrapper for yet."""
        return self.connection.call(method, params, on_progress=on_progress, timeout=timeout)

    # -- typed calls ---------------------------------------------------------------------

    def status(self) -> ArrayStatus:
        return ArrayStatus.from_json(self.call("status", timeout=QUICK_CALL_TIMEOUT))

    def flush(self, *, durable: bool = True) -> None:
        """Write out buffered data (durable: committed and fsynced) through the daemon."""
        self.call("flush", {"durable": durable}, timeout=QUICK_CALL_TIMEOUT)

    def retry_writes(self) -> str | None:
        """Leave the read-only fail-safe state if a commit works again; returns why it was
        read-only (None: it was not). DaemonError if it still cannot commit."""
        answer = self.call("retry_writes", timeout=QUICK_CALL_TIMEOUT)
        return None if answer.get("was_read_only") is None else str(answer["was_read_only"])

    def umount(self, *, force: bool = False) -> str | None:
        """Flush, unmount and stop the daemon; returns the mount point it had.

        Refused (DaemonError `mount_busy`, exit code 5) while processes use files under the
        mount point, unless `force`."""
        result = self.call("umount", {"force": force})
        return result.get("mountpoint") if isinstance(result, dict) else None

    def scrub(self, *, resume: bool = False, repair: bool = True,
              on_progress: ProgressCallback | None = None) -> JobResult:
        report = self.call("scrub", {"resume": resume, "repair": repair},
                           on_progress=_typed(on_progress))
        return JobResult("scrub", report)

    def scrub_cancel(self) -> None:
        """Stop the running scrub (it answers its caller `scrub_cancelled`; resumable).
        DaemonError `no_job` when no scrub runs."""
        self.call("scrub.cancel", timeout=QUICK_CALL_TIMEOUT)

    def mail_test(self, to: list[str] | None = None) -> list[str]:
        """Send a test mail now (to `to`, else mail.to); returns who it went to.
        DaemonError `mail` (or `mail_not_configured`) says what the server did."""
        result = self.call("mail.test", {"to": to} if to else {})
        return list(result["to"])

    def rebuild(self, member_index: int, onto: str | os.PathLike[str], *,
                on_progress: ProgressCallback | None = None) -> JobResult:
        """Rebuild the missing member `member_index` onto the empty directory `onto`."""
        report = self.call("rebuild", {"member": member_index, "onto": str(onto)},
                           on_progress=_typed(on_progress))
        return JobResult("rebuild", report)

    def compact(self, min_dead: float = 0.5, *,
                on_progress: ProgressCallback | None = None) -> JobResult:
        """Give back the space of dead chunks now, with the array mounted."""
        report = self.call("compact", {"min_dead": min_dead}, on_progress=_typed(on_progress))
        return JobResult("compact", report)

    def methods(self) -> list[str]:
        return list(self.call("methods", timeout=QUICK_CALL_TIMEOUT))


def _typed(callback: ProgressCallback | None) -> Callable[[dict[str, Any]], None] | None:
    if callback is None:
        return None

    def relay(raw: dict[str, Any]) -> None:
        callback(from_dict(JobProgress, raw))

    return relay
