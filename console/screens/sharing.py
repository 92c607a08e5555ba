"""Sharing: the office's PCs and Macs over SMB. Whether SMB is on (switch it with S), the
connected sessions (user, client address, protocol, encryption, open files: `smbstatus`
through the daemon), and each share's SMB options (guests, Time Machine), edited with E.

Methods: smb.status, smb.sessions, share.list, share.edit, settings.set
(nasfs.client.smb.SmbClient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from console.screens.form_dialog import Field
from console.screens.policy_base import PolicyScreen
from nasfs.client.policy import ShareInfo
from nasfs.client.smb import SmbClient, SmbSession, SmbStatus


def smb_fields(share: ShareInfo | None) -> list[Field]:
    """The SMB options of a share (also in the share dialog), pre-filled."""
    tm = share.time_machine_gib if share is not None else None
    return [
        Field("guest", "Guests may read it", "choice",
              "yes" if share is not None and share.guest else "no", choices=("no", "yes")),
        Field("time_machine", "Time Machine size (GiB)", "integer", str(tm or ""),
              required=False, placeholder="empty: not a Time Machine target"),
        Field("case_sensitive", "Names over SMB", "choice",
              "exact case" if share is not None and share.case_sensitive else "any case",
              choices=("any case", "exact case")),
    ]


def smb_options(values: dict[str, str]) -> dict[str, Any]:
    """What the SMB fields set: `guest` and `time_machine_gib` (None: not a target)."""
    size = values.get("time_machine", "")
    return {"guest": values.get("guest") == "yes",
            "time_machine_gib": int(size) if size and int(size) > 0 else None,
            "case_sensitive": values.get("case_sensitive") == "exact case"}


def session_row(s: SmbSession) -> tuple[str, ...]:
    return (s.user or "(guest)", s.client or "-", s.protocol or "-",
            s.encryption or "no", str(s.open_files))


def share_row(s: ShareInfo) -> tuple[str, ...]:
    guests = "read" if s.guest else "no"
    tm = f"{s.time_machine_gib} GiB" if s.time_machine_gib else "no"
    names = "exact case" if s.case_sensitive else "any case"
    return (s.name, "no" if s.hidden else "yes", guests, tm, names)


@dataclass
class SharingView:
    status: SmbStatus
    sessions: list[SmbSession] = field(default_factory=list)
    shares: list[ShareInfo] = field(default_factory=list)


class SharingScreen(PolicyScreen):
    SCREEN_NAME = "sharing"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "switch", "SMB on/off"),
        Binding("e", "edit_share", "Share's SMB options"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: SharingView | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield Static("", id="smb-summary")
            yield Label("Connected", classes="section-title")
            yield DataTable(id="sessions", cursor_type="row")
            yield Label("Shares over SMB", classes="section-title")
            yield DataTable(id="smb-shares", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#sessions", DataTable).add_columns(
            "User", "Client", "Protocol", "Encrypted", "Open files")
        self.query_one("#smb-shares", DataTable).add_columns(
            "Share", "Listed", "Guests", "Time Machine", "Names")
        super().on_mount()
        self.query_one("#smb-shares", DataTable).focus()

    def with_client(self, action: Any) -> Any:
        return self.console.backend.smb(action)

    def fetch(self, client: SmbClient) -> Any:
        return SharingView(client.status(), client.sessions(), client.shares())

    def show_data(self, data: Any) -> None:
        view: SharingView = data
        self.view = view
        status = view.status
        summary = status.summary
        if status.users_without_samba_password:
            summary += (" Must set their password again to log in over SMB: "
                        + ", ".join(status.users_without_samba_password) + ".")
        self.query_one("#smb-summary", Static).update(summary)
        sessions = self.query_one("#sessions", DataTable)
        sessions.clear()
        for s in view.sessions:
            sessions.add_row(*session_row(s))
        if not view.sessions:
            sessions.add_row("(nobody is connected)", "", "", "", "")
        table = self.query_one("#smb-shares", DataTable)
        row = table.cursor_row
        table.clear()
        for share in view.shares:
            table.add_row(*share_row(share), key=share.name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def selected_share(self) -> ShareInfo | None:
        if self.view is None or not self.view.shares:
            return None
        row = self.query_one("#smb-shares", DataTable).cursor_row
        return self.view.shares[row] if row < len(self.view.shares) else None

    def action_switch(self) -> None:
        if self.view is None:
            return
        if not self.view.status.enabled:
            self.act("SMB is on: the shares are served to the office.",
                     lambda c: c.set_enabled(True))
            return
        connected = len(self.view.sessions)
        self.confirm_then_act(
            "Switch SMB off?",
            f"smbd stops: {connected} connected session{'s' if connected != 1 else ''} "
            "will be dropped, and PCs and Macs can no longer reach the shares.",
            "SMB is off.", lambda c: c.set_enabled(False))

    def action_edit_share(self) -> None:
        share = self.selected_share()
        if share is None:
            return
        name = share.name
        self.ask_then_act(
            f"SMB options of {name}", smb_fields(share), f"Share {name} changed.",
            lambda v: lambda c: c.set_share_options(name, **smb_options(v)))
