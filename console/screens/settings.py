"""Settings: the daemon's settings (lock-out, log retention and export, mail) and the
console's own idle lock, each with what it means; Enter or E changes the highlighted one,
T sends a test mail with the saved mail settings and tells what the mail server said.

Methods: settings.get, settings.set, mail.test. The daemon checks every value and says why
it refuses. The mail password is never shown (the daemon answers only "set" or "unset").
Trash defaults are per share (Shares screen).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from console import wording
from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from nasfs.client import NasfsError
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
    "os.accounts": "yes: the system (and Samba) know the NAS users and groups",
    "smb.enabled": "yes: serve the shares to PCs and Macs over SMB while mounted",
    "smb.port": "the SMB port (445)",
    "smb.interfaces": "addresses SMB listens on, separated by spaces (empty: all)",
    "smb.state_dir": "where Samba's configuration, passwords and log are kept",
    "mail.enabled": "yes: mail the administrator about disks, checks, space, lock-outs",
    "mail.host": "the mail (SMTP) server's name or address",
    "mail.port": "its port: 587 (STARTTLS), 465 (mail.ssl) or 25",
    "mail.starttls": "yes: switch to an encrypted connection after connecting",
    "mail.ssl": "yes: encrypted from the start (usually port 465)",
    "mail.user": "user name at the mail server (empty: no login)",
    "mail.password": "password at the mail server (never shown; empty removes it)",
    "mail.from": "sender address of the mails (empty: nasfs@ this box)",
    "mail.to": "who gets the mails: addresses separated by commas",
    "mail.capacity_percent": "how full (percent) before a mail; e.g. 80, 95",
    "mail.repeat_s": "seconds in which the same notice is mailed only once",
    "mail.attempts": "tries per mail before it is given up (and logged)",
    "trash.default_days": "days deleted items stay in a new share's trash",
    "system.timezone": "time zone for times on this console and in exported logs",
    "scrub.schedule": "when the whole array is checked: cron, UTC (e.g. 0 3 1 * *); off",
    "backup.space_warn_percent": "a backup destination this full after a run is mailed; 0 off",
    "backup.digest_schedule": "when a summary of the backups is mailed: cron, UTC; off",
}
YES_NO = ("yes", "no")
CHOICES: dict[str, tuple[str, ...]] = {
    "auth.lock_mode": ("timed", "permanent"),
    "log.export_encoding": ("utf-8-sig", "utf-8", "cp932"),
}
SECRET = frozenset({"mail.password"})


def shown(value: Any) -> str:
    """A setting's value as the table shows it (yes/no, lists joined by commas)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


class SettingsScreen(PolicyScreen):
    SCREEN_NAME = "settings"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Change"),
        Binding("t", "test_mail", "Send test mail"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield DataTable(id="settings", cursor_type="row")
            yield Static("", id="setting-meaning", classes="guidance")
            # The console's own setting: not the daemon's, so not in the table (whose long
            # list scrolls); always in sight.
            yield Static("", id="idle-lock")

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
            table.add_row(key, shown(value), key=key)
        table.move_cursor(row=min(row, table.row_count - 1))
        self.query_one("#idle-lock", Static).update(
            f"The console idle lock: {self.console.idle_lock_s:g} s (set by nasfs-console "
            "--idle-lock SECONDS).")
        self._explain()

    @on(DataTable.RowHighlighted, "#settings")
    def _explain(self) -> None:
        key = self._selected()
        text = MEANINGS.get(key or "", "")
        self.query_one("#setting-meaning", Static).update(text)

    def _selected(self) -> str | None:
        table = self.query_one("#settings", DataTable)
        keys = list(self.values)
        return keys[table.cursor_row] if table.row_count and table.cursor_row < len(keys) \
            else None

    @on(DataTable.RowSelected, "#settings")
    def _selected_row(self) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        key = self._selected()
        if key is None:
            return
        current = self.values.get(key)
        if key in SECRET:
            field = Field("value", key, "password", "", required=False)
        elif isinstance(current, bool):
            field = Field("value", key, "choice", shown(current), choices=YES_NO)
        elif key in CHOICES:
            field = Field("value", key, "choice", str(current), choices=CHOICES[key])
        elif isinstance(current, int) and not isinstance(current, bool):
            field = Field("value", key, "integer", str(current))
        else:
            field = Field("value", key, value=shown(current) if current else "",
                          required=False)
        self.app.push_screen(FormDialog(f"Change {key}", [field], MEANINGS.get(key, "")),
                             lambda values: self._set(key, field, values))

    def _set(self, key: str, field: Field, values: dict[str, str] | None) -> None:
        if values is None:
            return
        value: Any = int(values["value"]) if field.kind == "integer" else values["value"]
        said = ("set" if value else "removed") if key in SECRET else value
        self.act(f"{key} is now {said}.", lambda p: p.settings_set(key, value))

    def action_test_mail(self) -> None:
        self.say("Sending a test mail...")
        self._send_test_mail()

    @work(thread=True, group="act")
    def _send_test_mail(self) -> None:
        try:
            sent_to = self.console.backend.mail_test()
        except NasfsError as exc:
            self.post_message(self.Acted("", wording.explain(exc)))
            return
        self.post_message(self.Acted(f"Test mail sent to {', '.join(sent_to)}. If it does "
                                     "not arrive, look in its spam folder."))
