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
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasfs.client import ArrayStatus, Client, DaemonError, JobProgress, JobResult
from nasfs.config import Config
from nasfs.errors import NasfsError

log = logging.getLogger(__name__)

Target = str | os.PathLike[str] | Config | None


@dataclass(frozen=True)
class AuthAnswer:
    """What `auth.check` said about one login attempt."""

    ok: bool
    locked: bool
    message: str


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

    def rebuild(self, member_index: int, onto: str,
                on_progress: Callable[[JobProgress], None]) -> JobResult:
        with self.client() as client:
            return client.rebuild(member_index, onto, on_progress=on_progress)

    # -- policy methods (nasfs.daemon.methods of the policy layer) ------------------------

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A control method by name, typed wrapper or not (users, shares, logs, settings)."""
        with self.client() as client:
            return client.call(method, params)

    def auth_check(self, name: str, password: str) -> AuthAnswer:
        with self.client() as client:
            answer = client.call("auth.check", {"name": name, "password": password,
                                                "source": "console"})
        if not isinstance(answer, dict):
            raise DaemonError("internal", "the daemon gave an answer to the password check "
                              "that the console does not understand")
        return AuthAnswer(bool(answer.get("ok")), bool(answer.get("locked")),
                          str(answer.get("message") or ""))

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
