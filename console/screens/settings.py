"""Settings: the daemon's policy settings (lock-out, log retention and export) and the
console's own idle lock, each with what it means; Enter or E changes the highlighted one.

Methods: settings.get, settings.set. The daemon checks every value and says why it refuses.
Trash defaults and mail (SMTP) settings appear here once the daemon has them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from nasfs.client.policy import PolicyClient

# What each setting means, in the words of the person changing it.
MEANINGS: dict[str, str] = {
    "auth.max_failures": "wrong passwords before a name (or terminal) is locked",
    "auth.window_s": "seconds in which those failures are counted",
    "auth.lock_s": "seconds a lock lasts (timed mode)",
    "auth.lock_mode": "timed: locks end by themselves; permanent: an admin unlocks",
    "log.retention_days": "days the logs are kept",
    "log.export_dir": "folder for the daily CSV export of the logs (empty: none)",
    "log.export_encoding": "encoding of that export",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "auth.lock_mode": ("timed", "permanent"),
    "log.export_encoding": ("utf-8-sig", "utf-8", "cp932"),
}
IDLE_ROW = "console idle lock"


class SettingsScreen(PolicyScreen):
    SCREEN_NAME = "settings"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Change"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield DataTable(id="settings", cursor_type="row")
            yield Static("", id="setting-meaning", classes="guidance")

    def on_mount(self) -> None:
        self.query_one("#settings", DataTable).add_columns("Setting", "Value")
        super().on_mount()
        self.query_one("#settings", DataTable).focus()

    def fetch(self, policy: PolicyClient) -> Any:
        return policy.settings_get()

    def show_data(self, data: Any) -> None:
        self.values = dict(data)
        table = self.query_one("#settings", DataTable)
        row = table.cursor_row
        table.clear()
        for key, value in self.values.items():
            table.add_row(key, str(value), key=key)
        table.add_row(IDLE_ROW, f"{self.console.idle_lock_s:g} s", key=IDLE_ROW)
        table.move_cursor(row=min(row, table.row_count - 1))
        self._explain()

    @on(DataTable.RowHighlighted, "#settings")
    def _explain(self) -> None:
        key = self._selected()
        if key == IDLE_ROW:
            text = ("Seconds without a key press before the console asks for the password "
                    "again. Set by the console's service (nasfs-console --idle-lock SECONDS).")
        else:
            text = MEANINGS.get(key or "", "")
        self.query_one("#setting-meaning", Static).update(text)

    def _selected(self) -> str | None:
        table = self.query_one("#settings", DataTable)
        keys = [*self.values, IDLE_ROW]
        return keys[table.cursor_row] if table.row_count and table.cursor_row < len(keys) \
            else None

    @on(DataTable.RowSelected, "#settings")
    def _selected_row(self) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        key = self._selected()
        if key is None:
            return
        if key == IDLE_ROW:
            self.say("The idle lock is set where the console is started (its systemd unit).",
                     error=True)
            return
        current = self.values.get(key)
        if key in CHOICES:
            field = Field("value", key, "choice", str(current), choices=CHOICES[key])
        elif isinstance(current, int) and not isinstance(current, bool):
            field = Field("value", key, "integer", str(current))
        else:
            field = Field("value", key, value=str(current or ""), required=False)
        self.app.push_screen(FormDialog(f"Change {key}", [field], MEANINGS.get(key, "")),
                             lambda values: self._set(key, field, values))

    def _set(self, key: str, field: Field, values: dict[str, str] | None) -> None:
        if values is None:
            return
        value: Any = int(values["value"]) if field.kind == "integer" else values["value"]
        self.act(f"{key} is now {value}.", lambda p: p.settings_set(key, value))
