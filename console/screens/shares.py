"""Shares: create, edit (hidden, trash on/off and days, keep overwritten, force group, modes
of new files and folders, homes; over SMB: guests, Time Machine), delete; the ACL
editor (principals × rw/ro/none) with the effective access of a chosen user shown live.

Methods: share.list/create/edit/del/acl/effective (nasfs.client.policy.PolicyClient).
Tab moves between the shares table, the access table and the "check a user" field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

from console import wording
from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from console.screens.sharing import smb_fields, smb_options
from nasfs.client import NasfsError
from nasfs.client.policy import AclEntryInfo, EffectiveAccess, PolicyClient, ShareInfo

ACCESS_CYCLE = {"rw": "ro", "ro": "none", "none": "rw"}
ACCESS_WORDS = {"rw": "read and write", "ro": "read only", "none": "no access"}


def principal_text(entry: AclEntryInfo) -> str:
    return "everyone" if entry.kind == "everyone" else f"{entry.kind} {entry.principal}"


# A new share keeps overwritten content in the trash, as `nasfs share create` does without
# --no-keep-overwritten (the daemon's default; tests/test_console_share_options.py checks
# that the two agree).
NEW_SHARE_KEEPS_OVERWRITTEN = True


def share_fields(share: ShareInfo | None) -> list[Field]:
    """Every share option, pre-filled with the share's values (a new share: the defaults)."""
    new = share is None
    trash = "on" if share is None or share.trash_days is not None else "off"
    # A new share's trash days: empty = the daemon's trash.default_days setting.
    days = str(share.trash_days) if share is not None and share.trash_days else ""
    keep = NEW_SHARE_KEEPS_OVERWRITTEN if share is None else share.keep_overwritten
    fields = [
        Field("hidden", "Hidden from browsing", "choice",
              "yes" if share is not None and share.hidden else "no", choices=("no", "yes")),
        Field("trash", "Trash", "choice", trash, choices=("on", "off")),
        Field("trash_days", "Keep trash (days)", "integer", days, required=False,
              placeholder="empty: the default (Settings)"),
        Field("keep_overwritten", "Keep overwritten", "choice", "yes" if keep else "no",
              choices=("yes", "no")),
        Field("force_group", "Force group", value=(share and share.force_group) or "",
              required=False, placeholder="e.g. sales (empty: none)"),
        Field("create_mode", "New files' mode", value=(share and share.create_mode) or "",
              required=False, placeholder="e.g. 0664 (empty: as programs ask)"),
        Field("dir_mode", "New folders' mode", value=(share and share.dir_mode) or "",
              required=False, placeholder="e.g. 2775"),
    ]
    if new:  # a homes share is chosen when it is made (each user gets a folder in it)
        fields.append(Field("homes", "Personal folders (homes)", "choice", "no",
                            choices=("no", "yes")))
    return fields + smb_fields(share)


def share_options(values: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "hidden": values["hidden"] == "yes",
        "keep_overwritten": values["keep_overwritten"] == "yes",
        "force_group": values["force_group"] or None,
        "create_mode": values["create_mode"] or None,
        "dir_mode": values["dir_mode"] or None,
    }
    if values["trash"] == "off":
        options["trash_days"] = None
    elif values["trash_days"]:
        options["trash_days"] = int(values["trash_days"])
    if "homes" in values:
        options["homes"] = values["homes"] == "yes"
    return options | smb_options(values)


class SharesScreen(PolicyScreen):
    SCREEN_NAME = "shares"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add_share", "Add share"),
        Binding("e", "edit_share", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("plus,equals_sign", "add_entry", "Add access", key_display="+"),
        Binding("space", "cycle_access", "rw/ro/none", key_display="Space"),
        Binding("minus", "remove_entry", "Remove access", key_display="-"),
        Binding("w", "who", "Check user"),
    ]

    @dataclass
    class Effective(Message):
        """The live answer of share.effective for the share and user shown."""

        share: str
        user: str
        answer: EffectiveAccess | None
        error: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.shares: list[ShareInfo] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield Label("Shares", classes="section-title")
            yield DataTable(id="shares", cursor_type="row")
            yield Label("Access", id="acl-title", classes="section-title")
            yield DataTable(id="acl", cursor_type="row")
            with Horizontal(classes="form-row"):
                yield Label("Check a user")
                yield Input(id="who", placeholder="user name")
            yield Static("", id="effective")

    def on_mount(self) -> None:
        self.query_one("#shares", DataTable).add_columns(
            "Share", "Hidden", "Trash", "Keep overwritten")
        self.query_one("#acl", DataTable).add_columns("Who", "Access")
        super().on_mount()
        self.query_one("#shares", DataTable).focus()

    # -- data -----------------------------------------------------------------------------

    def fetch(self, policy: PolicyClient) -> Any:
        return policy.share_list()

    def show_data(self, data: Any) -> None:
        self.shares = list(data)
        table = self.query_one("#shares", DataTable)
        row = table.cursor_row
        table.clear()
        for share in self.shares:
            trash = f"{share.trash_days} days" if share.trash_days is not None else "off"
            table.add_row(share.name, "yes" if share.hidden else "no", trash,
                          "yes" if share.keep_overwritten else "no", key=share.name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        if not self.shares:
            self.hint("No shares yet: press A to add one.")
        self._show_acl()

    def selected_share(self) -> ShareInfo | None:
        row = self.query_one("#shares", DataTable).cursor_row
        return self.shares[row] if self.shares and row < len(self.shares) else None

    def selected_entry(self) -> AclEntryInfo | None:
        share = self.selected_share()
        row = self.query_one("#acl", DataTable).cursor_row
        return share.acl[row] if share is not None and row < len(share.acl) else None

    @on(DataTable.RowHighlighted, "#shares")
    def _share_highlighted(self) -> None:
        self._show_acl()

    def _show_acl(self) -> None:
        share = self.selected_share()
        table = self.query_one("#acl", DataTable)
        row = table.cursor_row
        table.clear()
        title = self.query_one("#acl-title", Label)
        if share is None:
            title.update("Access")
            self.query_one("#effective", Static).update("")
            return
        title.update(f"Access to {share.name} (no entry: no access)")
        for entry in share.acl:
            words = ACCESS_WORDS.get(entry.access, "")
            table.add_row(principal_text(entry), f"{entry.access} ({words})")
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        self._check_user()

    # -- the live effective access ------------------------------------------------------

    @on(Input.Changed, "#who")
    def _who_changed(self) -> None:
        self._check_user()

    def _check_user(self) -> None:
        share = self.selected_share()
        user = self.query_one("#who", Input).value.strip()
        if share is None or not user:
            self.query_one("#effective", Static).update(
                "Type a user name to see what they may do on this share.")
            return
        self._effective(share.name, user)

    @work(thread=True, exclusive=True, group="effective")
    def _effective(self, share: str, user: str) -> None:
        try:
            answer = self.console.backend.policy(lambda p: p.share_effective(share, user))
        except NasfsError as exc:
            self.post_message(self.Effective(share, user, None, wording.explain(exc)))
            return
        self.post_message(self.Effective(share, user, answer))

    def on_shares_screen_effective(self, message: Effective) -> None:
        share = self.selected_share()
        if (share is None or share.name != message.share
                or self.query_one("#who", Input).value.strip() != message.user):
            return  # an answer for what was shown before
        effective = self.query_one("#effective", Static)
        if message.answer is None:
            effective.update(message.error or "")
            return
        access = message.answer.access
        text = f"{message.user} on {message.share}: {access} ({ACCESS_WORDS.get(access, '')})"
        if message.answer.admin_access:
            text += ", as an administrator"
        effective.update(text)

    # -- share actions ------------------------------------------------------------------

    def action_add_share(self) -> None:
        self.ask_then_act("Add a share", [Field("name", "Name", placeholder="e.g. Büro 2026"),
                                          *share_fields(None)],
                          lambda v: f"Share {v['name']} added. Give people access with +.",
                          lambda v: lambda p: p.share_create(v["name"], **share_options(v)))

    def action_edit_share(self) -> None:
        share = self.selected_share()
        if share is None:
            return
        name = share.name
        self.ask_then_act(f"Edit share {name}", share_fields(share), f"Share {name} changed.",
                          lambda v: lambda p: p.share_edit(name, **share_options(v)))

    def action_delete(self) -> None:
        if self.query_one("#acl", DataTable).has_focus:
            self.action_remove_entry()
            return
        share = self.selected_share()
        if share is None:
            return
        self.confirm_then_act(
            f"Delete share {share.name}?",
            "People can no longer reach it over the network. The files themselves stay on "
            "the array.",
            f"Share {share.name} deleted.",
            lambda p: p.share_del(share.name))

    # -- ACL actions --------------------------------------------------------------------

    def action_add_entry(self) -> None:
        share = self.selected_share()
        if share is None:
            return
        self.app.push_screen(FormDialog(f"Give access to {share.name}", [
            Field("kind", "Who", "choice", "user", choices=("user", "group", "everyone")),
            Field("principal", "Name (not for everyone)", required=False),
            Field("access", "Access", "choice", "rw", choices=("rw", "ro", "none")),
        ]), lambda values: self._set_entry(share.name, values))

    def _set_entry(self, share: str, values: dict[str, str] | None) -> None:
        if values is None:
            return
        kind, access = values["kind"], values["access"]
        principal = None if kind == "everyone" else values["principal"]
        if kind != "everyone" and not principal:
            self.say(f"Give the {kind}'s name.", error=True)
            return
        who = "everyone" if principal is None else f"{kind} {principal}"
        self.act(f"{who.capitalize()} now has {ACCESS_WORDS[access]} on {share}.",
                 lambda p: p.share_acl(share, kind, principal, access))

    def action_cycle_access(self) -> None:
        share, entry = self.selected_share(), self.selected_entry()
        if share is None or entry is None or not self.query_one("#acl", DataTable).has_focus:
            return
        access = ACCESS_CYCLE.get(entry.access, "rw")
        self.act(f"{principal_text(entry).capitalize()} now has {ACCESS_WORDS[access]} on "
                 f"{share.name}.",
                 lambda p: p.share_acl(share.name, entry.kind, entry.principal, access))

    def action_remove_entry(self) -> None:
        share, entry = self.selected_share(), self.selected_entry()
        if share is None or entry is None:
            return
        self.act(f"Entry for {principal_text(entry)} removed from {share.name}.",
                 lambda p: p.share_acl(share.name, entry.kind, entry.principal, "remove"))

    def action_who(self) -> None:
        self.query_one("#who", Input).focus()
