"""Disks: the members with their state and error counts; check all data (scrub) and stop
that check; replace a disk and rebuild.

The scrub and rebuild run in App workers (they outlive this screen) and stream progress
through the client's callback into the job panel here and on the Dashboard.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from console import format as fmt
from console.screens.base import ConsoleScreen
from console.screens.rebuild_dialog import RebuildDialog, RebuildRequest
from console.state import ConsoleState
from console.widgets.job_panel import JobPanel
from nasfs.client import ArrayStatus, MemberStatus

HEALTHY_GUIDANCE = ("All disks are working. Check all data (C) now and then: it reads "
                    "everything and repairs what it can.")


def guidance(status: ArrayStatus | None) -> str:
    """What to do about the disks, in plain words."""
    if status is None:
        return "The disks cannot be shown while the nasfs service is not running."
    if status.state == "healthy":
        return HEALTHY_GUIDANCE
    names = ", ".join(fmt.disk_name(i) for i in status.missing)
    if status.state == "failed":
        return (f"{names.capitalize()} are missing: more than parity can cover. Do not "
                "format or replace anything yet. Reconnect the disks (check cables and "
                "power), then restart the array. If a disk is truly dead, call for help "
                "before doing anything else.")
    return (f"{names.capitalize()} has failed or was removed. Your files are still "
            "readable. To be protected again: 1. fit a new disk and mount it as an empty "
            "directory; 2. press R and give the disk number and that directory; 3. wait for "
            "the rebuild to finish (the office can keep working).")


def errors_text(member: MemberStatus) -> str:
    """The member's error counts since the service started, in words ("-": not counted)."""
    counts = (("read", member.read_errors), ("repaired", member.repaired),
              ("write", member.write_errors))
    if all(n is None for _, n in counts):
        return "-"
    said = [f"{n} {word}" for word, n in counts if n]
    return ", ".join(said) if said else "none"


class DisksScreen(ConsoleScreen):
    SCREEN_NAME = "disks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "scrub", "Check all data"),
        Binding("s", "stop_scrub", "Stop check"),
        Binding("r", "replace", "Replace disk"),
    ]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(classes="body"):
            yield DataTable(id="members", cursor_type="row", zebra_stripes=False)
            yield Static(id="disk-guidance", classes="guidance")
            yield Label("Jobs", classes="section-title")
            yield JobPanel()

    def on_mount(self) -> None:
        table = self.query_one("#members", DataTable)
        table.add_columns("Disk", "State", "Errors", "Directory")
        super().on_mount()

    def show_state(self, state: ConsoleState) -> None:
        status = state.status if state.daemon_running else None
        table = self.query_one("#members", DataTable)
        row = table.cursor_row
        table.clear()
        for member in status.members if status else []:
            word = "ok" if member.state == "ok" else member.state.upper()
            if status is not None and status.rebuild_in_progress == member.index:
                word = "REBUILD INTERRUPTED"
            errors = errors_text(member)
            path = fmt.short_path(member.path, max(self.size.width - 34 - len(errors), 20)) \
                if member.path else "-"
            table.add_row(fmt.disk_name(member.index), word, errors, path,
                          key=str(member.index))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        self.query_one("#disk-guidance", Static).update(guidance(status))
        self.query_one(JobPanel).show(
            state.job, status.running_job if status and not state.job else None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("scrub", "replace"):
            return self.console.state.daemon_running or None
        if action == "stop_scrub":
            return self._scrub_running()
        return True

    def _scrub_running(self) -> bool:
        state = self.console.state
        job = state.job
        mine = job is not None and job.name == "scrub" and not job.finished
        return state.daemon_running and (mine or bool(
            state.status and state.status.running_job == "scrub"))

    def action_stop_scrub(self) -> None:
        if self._scrub_running():
            self.console.stop_scrub()

    def action_scrub(self) -> None:
        self.console.start_scrub()

    def action_replace(self) -> None:
        status = self.console.state.status
        if status is None:
            return
        self.app.push_screen(RebuildDialog(status), self._replace_chosen)

    def _replace_chosen(self, request: RebuildRequest | None) -> None:
        if request is not None:
            self.console.start_rebuild(request.member_index, request.onto)
