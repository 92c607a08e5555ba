"""`nasfs-console`: the on-box Textual console for the HDMI screen and the serial port.

UI only: every action is a `nasfs.client` call (through `console.backend`) that the CLI can
also make. The App owns what outlives a screen: the status poll, the running scrub or
rebuild, the login lock and the idle timer. Blocking calls run in thread workers that post
the small messages below; handlers replace `state` (a `ConsoleState`) whole, and every
screen redraws from it.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from console import wording
from console.backend import Backend
from console.format import set_zone
from console.screens.backups import BackupsScreen
from console.screens.dashboard import DashboardScreen
from console.screens.disks import DisksScreen
from console.screens.login import LoginScreen
from console.screens.logs import LogsScreen
from console.screens.settings import SettingsScreen
from console.screens.shares import SharesScreen
from console.screens.sharing import SharingScreen
from console.screens.snapshots import SnapshotsScreen
from console.screens.trash import TrashScreen
from console.screens.users import UsersScreen
from console.state import ConsoleState, JobState
from console.widgets.nav_bar import NavEntry
from nasfs.client import (
    ArrayStatus,
    DaemonError,
    DaemonGone,
    DaemonNotRunning,
    JobProgress,
    NasfsError,
    codes,
    daemon_target,
)

log = logging.getLogger(__name__)

DEFAULT_IDLE_LOCK_S = 300.0


@dataclass(frozen=True)
class ScreenEntry:
    key: str  # the function key, e.g. "f1" (its digit is an alias), or a digit alone
    title: str
    mode: str
    needs: frozenset[str] = frozenset()  # daemon methods without which the screen is left out


SCREENS: tuple[ScreenEntry, ...] = (
    ScreenEntry("f1", "Dashboard", "dashboard"),
    ScreenEntry("f2", "Disks", "disks"),
    ScreenEntry("f3", "Users", "users", frozenset({"user.list", "group.list"})),
    ScreenEntry("f4", "Shares", "shares", frozenset({"share.list", "share.effective"})),
    ScreenEntry("f5", "Logs", "logs", frozenset({"log.query"})),
    ScreenEntry("f6", "Settings", "settings", frozenset({"settings.get", "settings.set"})),
    ScreenEntry("f7", "Trash", "trash", frozenset({"trash.list", "trash.restore"})),
    ScreenEntry("f8", "Snapshots", "snapshots", frozenset({"snapshot.list", "snapshot.diff"})),
    # F9 and F10 lock and quit: the screens after F8 have a digit only.
    ScreenEntry("9", "Backups", "backups", frozenset({"backup.list", "backup.space"})),
    ScreenEntry("0", "Sharing", "sharing", frozenset({"smb.status", "smb.sessions"})),
)


class NasConsole(App[None]):
    """The console application (see the module docstring)."""

    CSS_PATH = "console.tcss"
    TITLE = "nasfs console"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = {
        "dashboard": DashboardScreen,
        "disks": DisksScreen,
        "users": UsersScreen,
        "shares": SharesScreen,
        "logs": LogsScreen,
        "settings": SettingsScreen,
        "trash": TrashScreen,
        "snapshots": SnapshotsScreen,
        "backups": BackupsScreen,
        "sharing": SharingScreen,
    }
    DEFAULT_MODE = "dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(entry.key, f"goto('{entry.mode}')", entry.title, show=False,
                  key_display=entry.key.upper()) for entry in SCREENS),
        *(Binding(entry.key.removeprefix("f"), f"goto('{entry.mode}')", entry.title,
                  show=False) for entry in SCREENS if entry.key.startswith("f")),
        Binding("f11", "start_daemon", "Start array", key_display="F11"),
        Binding("f12", "recovery", "Recovery shell", key_display="F12"),
        Binding("f9", "lock", "Lock", key_display="F9"),
        Binding("f10", "quit", "Quit", key_display="F10"),
    ]

    state: reactive[ConsoleState] = reactive(ConsoleState, always_update=True)

    # -- messages from workers --------------------------------------------------------------

    @dataclass
    class Polled(Message):
        """The status poll's outcome: a status, or why the daemon could not be asked."""

        status: ArrayStatus | None
        problem: str | None
        daemon_running: bool
        methods: frozenset[str] | None = None

    @dataclass
    class JobChanged(Message):
        """A scrub or rebuild moved on (progress) or ended (finished)."""

        job: JobState

    @dataclass
    class DaemonStarted(Message):
        """`nasfs mount` returned: `error` is None when the daemon is up."""

        error: str | None = None

    # -- life cycle -----------------------------------------------------------------------

    def __init__(self, backend: Backend, *, require_login: bool = True,
                 idle_lock_s: float = DEFAULT_IDLE_LOCK_S, poll_s: float = 2.0,
                 poll: bool = True) -> None:
        super().__init__()
        self.backend = backend
        self.require_login = require_login
        self.idle_lock_s = idle_lock_s
        self.poll_s = poll_s
        self.polling = poll
        self.locked = require_login
        self.starting_daemon = False
        self.user: str | None = None
        self.last_input = time.monotonic()
        self.theme = "ansi-dark"

    def on_mount(self) -> None:
        if self.polling:
            self.poll_status()
            self.set_interval(self.poll_s, self.poll_status)
        self.set_interval(1.0, self._check_idle)
        if self.locked:
            self.push_screen(LoginScreen())

    async def on_event(self, event: events.Event) -> None:
        # Any key (or click) counts as activity for the idle lock, whoever handles it.
        if isinstance(event, events.Key | events.MouseDown):
            self.last_input = time.monotonic()
        await super().on_event(event)

    def watch_state(self, state: ConsoleState) -> None:
        # Which keys apply (start, recovery, jobs) depends on whether the daemon runs.
        if self.screen_stack:
            self.refresh_bindings()

    # -- the status poll ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="poll")
    def poll_status(self) -> None:
        try:
            status = self.backend.status()
            methods = None if self.state.methods and self.state.daemon_running \
                else self.backend.methods()
        except (DaemonNotRunning, DaemonGone) as exc:
            self.post_message(self.Polled(None, wording.problem(exc), False))
            return
        except NasfsError as exc:
            # A config file that cannot be read, a refused connection: no service either.
            self.post_message(self.Polled(None, wording.problem(exc), False))
            return
        self.post_message(self.Polled(status, None, True, methods))

    def on_nas_console_polled(self, message: Polled) -> None:
        self.show_status(message.status, message.problem, message.daemon_running,
                         message.methods)

    def show_status(self, status: ArrayStatus | None, problem: str | None = None,
                    daemon_running: bool = True, methods: frozenset[str] | None = None) -> None:
        """Make `status` the console's picture of the array (also for recorded statuses)."""
        state = self.state
        self.state = replace(
            state, status=status if daemon_running else state.status, problem=problem,
            daemon_running=daemon_running,
            methods=(methods if methods is not None else
                     state.methods if daemon_running else frozenset()))

    # -- jobs -----------------------------------------------------------------------------

    def start_scrub(self) -> None:
        if self._job_running():
            return
        self.state = self.state.with_job(JobState("scrub", "of all disks"))
        self._run_scrub()

    def stop_scrub(self) -> None:
        """Ask the daemon to stop the running scrub; its worker then reports it stopped."""
        self._stop_scrub()

    @work(thread=True, group="stop")
    def _stop_scrub(self) -> None:
        try:
            self.backend.scrub_cancel()
        except NasfsError as exc:
            self.call_from_thread(self.notify, wording.explain(exc), severity="warning")

    def start_rebuild(self, member_index: int, onto: str) -> None:
        if self._job_running():
            return
        from console.format import disk_name, short_path

        self.state = self.state.with_job(
            JobState("rebuild", f"of {disk_name(member_index)} onto {short_path(onto, 40)}"))
        self._run_rebuild(member_index, onto)

    def _job_running(self) -> bool:
        job = self.state.job
        running = (job is not None and not job.finished) or bool(
            self.state.status and self.state.status.running_job)
        if running:
            self.notify("A scrub or rebuild is already running; wait for it to finish.",
                        severity="warning")
        return running

    @work(thread=True, group="job")
    def _run_scrub(self) -> None:
        job = self.state.job or JobState("scrub")
        try:
            result = self.backend.scrub(lambda p: self._progressed(job, p))
        except DaemonError as exc:
            if exc.code != codes.SCRUB_CANCELLED:
                self._job_failed(job, exc)
                return
            self.post_message(self.JobChanged(replace(job, finished=True, outcome=(
                "stopped. Nothing is lost; press C to check all data again."))))
            return
        except NasfsError as exc:
            self._job_failed(job, exc)
            return
        self.post_message(self.JobChanged(replace(
            job, finished=True, outcome=scrub_outcome(result.report))))

    @work(thread=True, group="job")
    def _run_rebuild(self, member_index: int, onto: str) -> None:
        job = self.state.job or JobState("rebuild")
        try:
            result = self.backend.rebuild(member_index, onto, lambda p: self._progressed(job, p))
        except NasfsError as exc:
            self._job_failed(job, exc)
            return
        self.post_message(self.JobChanged(replace(
            job, finished=True, outcome=rebuild_outcome(result.report))))

    def _progressed(self, job: JobState, progress: JobProgress) -> None:
        self.post_message(self.JobChanged(replace(job, progress=progress)))

    def _job_failed(self, job: JobState, exc: BaseException) -> None:
        self.post_message(self.JobChanged(replace(
            job, finished=True, failed=True, outcome=f"failed. {wording.explain(exc)}")))

    def on_nas_console_job_changed(self, message: JobChanged) -> None:
        current = self.state.job
        # Progress lines may still be queued behind the final message; never go back.
        if current is not None and current.finished and not message.job.finished:
            return
        job = message.job
        if job.progress is None and current is not None:
            job = replace(job, progress=current.progress)
        self.state = self.state.with_job(job)
        if job.finished:
            self.notify(f"{job.name.capitalize()} {job.outcome}",
                        severity="error" if job.failed else "information", timeout=10)
            if self.polling:
                self.poll_status()

    # -- daemon start, recovery -----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "goto":
            return not self.locked
        if action == "start_daemon":
            return not self.state.daemon_running and not self.starting_daemon
        if action == "recovery":
            return not self.state.daemon_running and self.backend.recovery_available() \
                and not self.locked
        return True

    def action_goto(self, mode: str) -> None:
        if mode in self.available_modes():
            self.switch_mode(mode)

    def action_start_daemon(self) -> None:
        self.starting_daemon = True
        self.state = self.state  # redraw the banner as "starting"
        self._start_daemon()

    @work(thread=True, exclusive=True, group="start")
    def _start_daemon(self) -> None:
        try:
            self.backend.start_daemon()
        except (NasfsError, OSError, subprocess.SubprocessError) as exc:
            self.post_message(self.DaemonStarted(str(exc)))
            return
        self.post_message(self.DaemonStarted(None))

    def on_nas_console_daemon_started(self, message: DaemonStarted) -> None:
        self.starting_daemon = False
        if message.error is not None:
            self.notify(f"The array did not start: {message.error}", severity="error",
                        timeout=15)
        else:
            self.notify("The array has started.")
        if self.polling:
            self.poll_status()
        self.state = self.state

    def action_recovery(self) -> None:
        with self.suspend():
            subprocess.run(self.backend.recovery_command(), check=False)

    # -- login and the idle lock ----------------------------------------------------------

    def action_lock(self) -> None:
        if not self.require_login or self.locked:
            return
        self.locked = True
        self.user = None
        self.push_screen(LoginScreen())

    def unlock(self, user: str) -> None:
        """The login screen accepted `user`."""
        self.locked = False
        self.user = user
        self.last_input = time.monotonic()
        self.pop_screen()
        self.state = self.state  # redraw: keys and screens that need a login
        self._load_time_zone()

    @work(thread=True, exclusive=True, group="timezone")
    def _load_time_zone(self) -> None:
        try:
            zone = self.backend.policy(lambda p: p.settings_get().get("system.timezone"))
        except Exception:  # an older daemon or none: keep showing local time
            log.info("no time zone setting from the daemon; showing local time")
            return
        set_zone(zone if isinstance(zone, str) else None)

    def _check_idle(self) -> None:
        if (self.require_login and not self.locked
                and time.monotonic() - self.last_input >= self.idle_lock_s):
            log.info("console locked after %.0f s without input", self.idle_lock_s)
            self.action_lock()

    # -- screens --------------------------------------------------------------------------

    def available_modes(self) -> list[str]:
        return [e.mode for e in SCREENS if e.needs <= self.state.methods]

    def nav_entries(self) -> list[NavEntry]:
        modes = self.available_modes()
        return [NavEntry(e.key.upper(), e.title, e.mode) for e in SCREENS if e.mode in modes]


def scrub_outcome(report: dict[str, Any]) -> str:
    from console import format as fmt

    lost = report.get("unrecoverable") or []
    text = (f"finished: checked {report.get('stripes', 0)} stripes "
            f"({fmt.size(report.get('bytes_read', 0))} read), repaired "
            f"{report.get('repaired_shards', 0)} damaged pieces.")
    if lost:
        text += (f" {len(lost)} pieces could not be recovered: restore the affected files "
                 "from a backup or snapshot.")
    else:
        text += " All data is readable."
    return text


def rebuild_outcome(report: dict[str, Any]) -> str:
    from console import format as fmt

    lost = report.get("unrecoverable") or []
    text = (f"finished: {report.get('stripes', 0)} stripes, "
            f"{fmt.size(report.get('bytes_written', 0))} written to {report.get('onto')}.")
    if lost:
        text += f" {len(lost)} pieces could not be rebuilt."
    return text


# -- entry point ----------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nasfs-console", description="The nasfs console for the box's screen and "
        "serial port.")
    parser.add_argument("target", nargs="?", help="mount point or control socket "
                        "(default: $NASFS_SOCKET, else the array of the config file)")
    parser.add_argument("--config", type=Path, help="config file (default "
                        "/etc/nasfs/nasfs.toml)")
    parser.add_argument("--idle-lock", type=float, default=DEFAULT_IDLE_LOCK_S,
                        metavar="SECONDS", help="lock the console after this long without "
                        "a key (default %(default)s)")
    return parser.parse_args(argv)


def make_backend(args: argparse.Namespace) -> Backend:
    target, config_file = daemon_target(args.target, args.config)
    return Backend(target, config_file=config_file)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, filename=os.environ.get("NASFS_CONSOLE_LOG"))
    NasConsole(make_backend(args), idle_lock_s=args.idle_lock).run()
    return 0

