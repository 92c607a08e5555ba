"""The console's only door to the daemon: short-lived `nasfs.client` connections for workers.

Every method here is blocking and meant to run in a Textual thread worker. Each call opens
its own connection (cheap on a Unix socket), so a daemon that was restarted between two
calls is found again, and a long scrub in one worker never holds up the status poll of
another. Nothing here imports Textual: the backend is usable (and tested) without a screen.

Errors are the client's: DaemonNotRunning when no daemon answers, DaemonError for a refused
request (its `code` is the protocol's error code), DaemonGone when the daemon died mid-call.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nasfs.client import (
    ArrayStatus,
    Client,
    JobProgress,
    JobResult,
    NasfsError,
    Target,
)
from nasfs.client.backup import BackupClient
from nasfs.client.policy import PolicyClient
from nasfs.client.smb import SmbClient
from nasfs.client.snapshots import SnapshotClient
from nasfs.client.trash import TrashClient

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class AuthAnswer:
    """What `auth.check` said about one login attempt."""

    ok: bool
    locked: bool
    message: str
    not_admin: bool = False  # the password was right, but the account may not administer


class Backend:
    """Blocking calls to the daemon of one array, found again on every call.

    `target` is what `Client.connect` accepts: a socket, a mount point, a Config, or None
    ($NASFS_SOCKET, else the default config file).
    """

    def __init__(self, target: Target = None, *, run_dir: Path | None = None,
                 config_file: Path | None = None) -> None:
        self.target = target
        self.run_dir = run_dir
        # Only used to tell the administrator (and the start action) which file to mount with.
        self.config_file = config_file

    def client(self) -> Client:
        return Client.connect(self.target, run_dir=self.run_dir)

    # -- array ----------------------------------------------------------------------------

    def status(self) -> ArrayStatus:
        with self.client() as client:
            return client.status()

    def methods(self) -> frozenset[str]:
        with self.client() as client:
            return frozenset(client.methods())

    def scrub(self, on_progress: Callable[[JobProgress], None]) -> JobResult:
        with self.client() as client:
            return client.scrub(on_progress=on_progress)

    def scrub_cancel(self) -> None:
        """Stop the running scrub (resumable); DaemonError `no_job` if none runs."""
        with self.client() as client:
            client.scrub_cancel()

    def mail_test(self) -> list[str]:
        """Send a test mail through the daemon now; DaemonError says what the server did."""
        with self.client() as client:
            return client.mail_test()

    def rebuild(self, member_index: int, onto: str,
                on_progress: Callable[[JobProgress], None]) -> JobResult:
        with self.client() as client:
            return client.rebuild(member_index, onto, on_progress=on_progress)

    # -- policy methods (users, groups, shares, logs, settings) ----------------------------

    def policy(self, action: Callable[[PolicyClient], T]) -> T:
        """Run `action` with the typed policy calls of one connection."""
        with self.client() as client:
            return action(PolicyClient(client))

    def trash(self, action: Callable[[TrashClient], T]) -> T:
        """Run `action` with the typed trash calls of one connection."""
        with self.client() as client:
            return action(TrashClient(client))

    def snapshots(self, action: Callable[[SnapshotClient], T]) -> T:
        """Run `action` with the typed snapshot calls of one connection."""
        with self.client() as client:
            return action(SnapshotClient(client))

    def backups(self, action: Callable[[BackupClient], T]) -> T:
        """Run `action` with the typed backup calls of one connection."""
        with self.client() as client:
            return action(BackupClient(client))

    def smb(self, action: Callable[[SmbClient], T]) -> T:
        """Run `action` with the typed SMB calls of one connection."""
        with self.client() as client:
            return action(SmbClient(client))

    def auth_check(self, name: str, password: str) -> AuthAnswer:
        """The daemon's verdict; a success counts only for an administrator (uid 0)."""
        with self.client() as client:
            policy = PolicyClient(client)
            answer = policy.auth_check(name, password, "console")
            if not answer.ok:
                return AuthAnswer(False, answer.locked, answer.message)
            admin = any(u.name == name and u.is_admin for u in policy.user_list())
        if not admin:
            return AuthAnswer(False, False, "only administrators may use the console",
                              not_admin=True)
        return AuthAnswer(True, False, answer.message)

    # -- starting the daemon, the recovery shell ------------------------------------------

    @staticmethod
    def recovery_available() -> bool:
        """Whether this nasfs has a `nasfs recovery` command to offer."""
        return importlib.util.find_spec("nasfs.cli.recovery") is not None

    def recovery_command(self) -> list[str]:
        nasfs = shutil.which("nasfs")
        base = [nasfs] if nasfs else [sys.executable, "-m", "nasfs.cli.main"]
        if self.config_file is not None:
            return [*base, "recovery", "--config", str(self.config_file)]
        return [*base, "recovery"]

    def start_args(self) -> list[str]:
        """`nasfs` arguments that start the daemon for this console's array."""
        if self.config_file is not None:
            return ["mount", "--config", str(self.config_file)]
        return ["mount"]

    def start_command(self) -> list[str]:
        """The command that starts the daemon for this console's array."""
        nasfs = shutil.which("nasfs")
        base = [nasfs] if nasfs else [sys.executable, "-m", "nasfs.cli.main"]
        return [*base, *self.start_args()]

    def start_daemon(self) -> str:
        """Run `nasfs mount --config FILE` and return what it printed (its error if any)."""
        done = subprocess.run(self.start_command(), capture_output=True, text=True,
                              timeout=600, check=False)
        if done.returncode != 0:
            message = (done.stderr.strip() or done.stdout.strip()).splitlines()
            text = message[-1] if message else f"exit status {done.returncode}"
            raise StartFailed(text.removeprefix("nasfs: "))
        return done.stdout.strip()


class StartFailed(NasfsError):
    """`nasfs mount` refused to start the daemon; str() is its one-line reason."""
