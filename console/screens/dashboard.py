"""Dashboard: the array's state in words, one line per disk, capacity, alerts, jobs, mount.

Everything here comes from the App's periodic `status` poll (a worker), so the screen
itself never waits on the daemon.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from console import format as fmt
from console.format import when
from console.screens.base import ConsoleScreen
from console.state import ConsoleState
from console.widgets.capacity_bar import CapacityBar
from console.widgets.job_panel import JobPanel
from console.widgets.member_lines import MemberLines
from nasfs.client import ArrayStatus

# Events worth an administrator's attention (the daemon reports more).
ALERT_KINDS = {"member-missing", "member-failed", "replica-repaired", "rebuild-finished",
               "unrecoverable", "scrub-finished", "rebuild-started", "scrub-started",
               "read-only", "writable-again", "db-full"}


def state_sentence(state: ConsoleState) -> str:
    """What the array's state means for the office, and what to do."""
    status = state.status
    if not state.daemon_running or status is None:
        return "The array is not available: the nasfs service is not running."
    if status.read_only:
        return ("READ-ONLY: changes cannot be saved, so none are taken; files can still be "
                f"read. Cause: {status.read_only}. Free or replace the full or failing disk, "
                "then `nasfs retry-writes` (or unmount and mount again).")
    word = state.state_word
    if word == "REBUILDING":
        return "A replaced disk is being rebuilt. Files stay available meanwhile."
    if status.state == "healthy":
        return "All disks are working. Your files are protected against a disk failure."
    missing = ", ".join(fmt.disk_name(i) for i in status.missing)
    if status.state == "degraded":
        return (f"{missing.capitalize()} failed or is missing. All files are still there, "
                "but one more failure would lose data: replace the disk (F2 Disks).")
    return (f"Too many disks are missing ({missing}): the files cannot be read. Reconnect "
            "the disks, then restart the array.")


class DashboardScreen(ConsoleScreen):
    SCREEN_NAME = "dashboard"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(classes="body"):
            yield Static(id="state-line")
            # Alerts right under the state: above the fold at 80x24 however many disks
            # and jobs follow.
            yield Label("Alerts", classes="section-title")
            yield Static(id="alerts")
            yield Label("Disks", classes="section-title")
            yield MemberLines()
            yield Label("Capacity", classes="section-title")
            yield CapacityBar()
            yield Label("Jobs", classes="section-title")
            yield JobPanel()

    def show_state(self, state: ConsoleState) -> None:
        status = state.status if state.daemon_running else None
        line = Text()
        line.append(f"Array {state.state_word}", "bold")
        if status is not None:
            where = (f", mounted at {status.mountpoint}" if status.mounted
                     else ", not mounted")
            line.append(f" ({len(status.members)} disks, {status.nparity} for parity{where})")
        line.append("\n" + state_sentence(state))
        self.query_one("#state-line", Static).update(line)
        self.query_one(MemberLines).show(status)
        self.query_one(CapacityBar).show(status.capacity if status else None)
        self.query_one(JobPanel).show(
            state.job, status.running_job if status and not state.job else None)
        self.query_one("#alerts", Static).update(alerts_text(status))


# The store's event kinds in the words of the rest of the console ("disk", not "member").
EVENT_WORDS = {"member-missing": "disk missing", "member-failed": "disk failed"}


def alerts_text(status: ArrayStatus | None) -> Text:
    if status is None:
        return Text("None known.")
    events = [e for e in status.events if e.kind in ALERT_KINDS][-5:]
    if not events:
        return Text("No alerts.")
    text = Text()
    for i, event in enumerate(reversed(events)):
        if i:
            text.append("\n")
        stamp = when(event.time * 1e9)
        style = "bold red" if event.kind in ("member-missing", "member-failed",
                                              "unrecoverable", "read-only") else ""
        text.append(f"{stamp} ")
        text.append(EVENT_WORDS.get(event.kind, event.kind.replace("-", " ")), style)
        if event.detail:
            text.append(f": {event.detail}")  # the daemon already says "disk N"
    return text
