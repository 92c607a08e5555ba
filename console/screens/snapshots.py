"""Snapshots: the list with sizes; take one now, lock/unlock, delete; browse what differs
between a snapshot and now, and restore a file or folder from it; schedules and retention.

Methods: snapshot.list/create/lock/unlock/delete/diff/restore and snapshot.schedule.list/
set/del (nasfs.client.snapshots). "Browse" lists the paths that were added, changed or
removed since the snapshot (snapshot.diff): those are the ones worth restoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from console import format as fmt
from console.format import when
from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from nasfs.client.snapshots import (
    RestoreDone,
    ScheduleInfo,
    SnapshotClient,
    SnapshotDiff,
    SnapshotInfo,
)

KEEPS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly")


@dataclass
class SnapshotView:
    snapshots: list[SnapshotInfo] = field(default_factory=list)
    schedules: list[ScheduleInfo] = field(default_factory=list)


@dataclass(frozen=True)
class Browsed:
    snapshot: str
    diff: SnapshotDiff


def retention(schedule: ScheduleInfo) -> str:
    parts = [f"{k.removeprefix('keep_')} {getattr(schedule, k)}" for k in KEEPS
             if getattr(schedule, k) is not None]
    return ", ".join(parts) or "keep all"


class SnapshotsScreen(PolicyScreen):
    SCREEN_NAME = "snapshots"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "take", "Take now"),
        Binding("l", "toggle_lock", "Lock/unlock"),
        Binding("d", "delete", "Delete"),
        Binding("b", "browse", "Browse"),
        Binding("r", "restore", "Restore"),
        Binding("s", "schedule", "Schedule"),
        Binding("x", "delete_schedule", "Drop schedule"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = SnapshotView()
        self.browsed: Browsed | None = None
        self.changed_paths: list[str] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield DataTable(id="snapshots", cursor_type="row")
            yield Label("Changed since the snapshot (B to browse)", id="browse-title",
                        classes="section-title")
            yield DataTable(id="changes", cursor_type="row")
            yield Label("Schedules", classes="section-title")
            yield DataTable(id="schedules", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#snapshots", DataTable).add_columns(
            "Snapshot", "Taken", "Lock", "Only here", "Shared")
        self.query_one("#changes", DataTable).add_columns("Path", "Since then")
        self.query_one("#schedules", DataTable).add_columns("Schedule", "Cron (UTC)",
                                                            "Next run (here)", "Retention")
        super().on_mount()
        self.query_one("#snapshots", DataTable).focus()

    def with_client(self, action: Any) -> Any:
        return self.console.backend.snapshots(action)

    def fetch(self, client: SnapshotClient) -> Any:
        return SnapshotView(client.list(), client.schedules())

    def show_data(self, data: Any) -> None:
        self.view = data
        table = self.query_one("#snapshots", DataTable)
        row = table.cursor_row
        table.clear()
        for snap in self.view.snapshots:
            taken = when(snap.created_ns)
            table.add_row(snap.name, taken, "LOCKED" if snap.locked else "",
                          fmt.size(snap.exclusive_bytes), fmt.size(snap.shared_bytes),
                          key=str(snap.id))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        schedules = self.query_one("#schedules", DataTable)
        schedules.clear()
        for schedule in self.view.schedules:
            schedules.add_row(schedule.name, schedule.cron, fmt.next_run(schedule.cron),
                              retention(schedule))
        if not self.view.snapshots:
            self.hint("No snapshots yet: press T to take one.")

    def after_action(self, result: Any) -> None:
        if isinstance(result, Browsed):
            self._show_changes(result)
        elif isinstance(result, RestoreDone):
            # The original path is kept if it is taken: the copy goes beside it.
            self.say(f"Restored as {result.path} ({result.files} file(s), "
                     f"{fmt.size(result.bytes)}).")

    def _current(self) -> SnapshotInfo | None:
        row = self.query_one("#snapshots", DataTable).cursor_row
        snaps = self.view.snapshots
        return snaps[row] if snaps and row < len(snaps) else None

    # -- browse and restore -------------------------------------------------------------

    def action_browse(self) -> None:
        snap = self._current()
        if snap is None:
            return
        self.act(f"Read what changed since {snap.name}.",
                 lambda client: Browsed(snap.name, client.diff(snap.id)))

    def _show_changes(self, browsed: Browsed) -> None:
        self.browsed = browsed
        table = self.query_one("#changes", DataTable)
        table.clear()
        rows = ([(p, "removed") for p in browsed.diff.removed]
                + [(p, "changed") for p in browsed.diff.changed]
                + [(p, "added") for p in browsed.diff.added])
        self.changed_paths = [p for p, _ in rows]
        for path, how in rows:
            table.add_row(fmt.short_path(path, 60), how)
        self.query_one("#browse-title", Label).update(
            f"Changed since {browsed.snapshot}: {len(rows)} (R restores the highlighted one)")
        if not rows:
            self.say(f"Nothing changed since {browsed.snapshot}.")

    @on(DataTable.RowSelected, "#changes")
    def _change_selected(self) -> None:
        self.action_restore()

    def action_restore(self) -> None:
        snap = self._current()
        if self.browsed is not None:
            snap = next((s for s in self.view.snapshots if s.name == self.browsed.snapshot),
                        snap)
        if snap is None:
            return
        row = self.query_one("#changes", DataTable).cursor_row
        path = self.changed_paths[row] if self.changed_paths and row < len(
            self.changed_paths) else ""
        self.app.push_screen(FormDialog(f"Restore from {snap.name}", [
            Field("path", "File or folder", value=path, placeholder="docs/report.txt"),
            Field("to", "Restore as (empty: same place)", required=False),
        ], "The path is from the top of the array, e.g. docs/report.txt. Ctrl+S: restore"),
            lambda values: self._restore(snap, values))

    def _restore(self, snap: SnapshotInfo, values: dict[str, str] | None) -> None:
        if values is None:
            return
        path, to = values["path"], values["to"] or None
        self.act(f"{path} restored from {snap.name}.",
                 lambda client: client.restore(snap.id, path, to))

    # -- take, lock, delete -------------------------------------------------------------

    def action_take(self) -> None:
        self.app.push_screen(FormDialog("Take a snapshot now", [
            Field("name", "Name (empty: the time)", required=False),
            Field("locked", "Lock it (never deleted by retention)", "choice", "no",
                  choices=("no", "yes")),
        ]), self._take)

    def _take(self, values: dict[str, str] | None) -> None:
        if values is None:
            return
        name, locked = values["name"] or None, values["locked"] == "yes"
        self.act("Snapshot taken.", lambda client: client.create(name, locked=locked))

    def action_toggle_lock(self) -> None:
        snap = self._current()
        if snap is None:
            return
        if snap.locked:
            self.act(f"{snap.name} unlocked.", lambda client: client.unlock(snap.id))
        else:
            self.act(f"{snap.name} locked.", lambda client: client.lock(snap.id))

    def action_delete(self) -> None:
        snap = self._current()
        if snap is None:
            return
        self.confirm_then_act(
            f"Delete snapshot {snap.name}?",
            f"About {fmt.size(snap.exclusive_bytes)} become free. Files only in this "
            "snapshot cannot be restored any more.",
            f"{snap.name} deleted.",
            lambda client: client.delete(snap.id))

    # -- schedules ----------------------------------------------------------------------

    def action_schedule(self) -> None:
        self.app.push_screen(FormDialog("Add or change a schedule", [
            Field("name", "Name", placeholder="nightly"),
            Field("cron", "When (cron, UTC)", value="0 2 * * *"),
            Field("keep_daily", "Keep daily", "integer", "14", required=False),
            Field("keep_weekly", "Keep weekly", "integer", "8", required=False),
            Field("keep_monthly", "Keep monthly", "integer", required=False),
        ], "cron, in UTC: minute hour day month weekday. Ctrl+S: save"), self._schedule)

    def _schedule(self, values: dict[str, str] | None) -> None:
        if values is None:
            return
        name, cron = values["name"], values["cron"]
        keep = {k: int(v) for k, v in values.items() if k.startswith("keep_") and v}
        self.act(f"Schedule {name} saved.",
                 lambda client: client.set_schedule(name, cron, **keep))

    def action_delete_schedule(self) -> None:
        table = self.query_one("#schedules", DataTable)
        schedules = self.view.schedules
        if not schedules or table.cursor_row >= len(schedules):
            return
        name = schedules[table.cursor_row].name
        self.act(f"Schedule {name} removed (its snapshots stay).",
                 lambda client: client.delete_schedule(name))
