"""Users & groups: add, delete, reset password, unlock; groups and their members.

Methods: user.list/add/del/passwd/unlock, group.list/add/del/adduser/deluser (through
`nasfs.client.policy.PolicyClient`). Tab moves between the users and the groups table;
the keys act on the highlighted row.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from nasfs.client.policy import GroupInfo, PolicyClient, UserInfo


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")



def _same_passwords(values: dict[str, str]) -> str | None:
    if values["password"] != values["again"]:
        return "The two passwords differ; type them again."
    return None

class UsersScreen(PolicyScreen):
    SCREEN_NAME = "users"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add_user", "Add user"),
        Binding("d", "delete", "Delete"),
        Binding("p", "password", "Password"),
        Binding("u", "unlock", "Unlock"),
        Binding("g", "add_group", "Add group"),
        Binding("m", "member(True)", "Join group"),
        Binding("x", "member(False)", "Leave group"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.users: list[UserInfo] = []
        self.groups: list[GroupInfo] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield Label("Users", classes="section-title")
            yield DataTable(id="users", cursor_type="row")
            yield Label("Groups", classes="section-title")
            yield DataTable(id="groups", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#users", DataTable).add_columns(
            "Name", "uid", "Password", "State", "Groups")
        self.query_one("#groups", DataTable).add_columns("Group", "gid", "Members")
        super().on_mount()
        self.query_one("#users", DataTable).focus()

    def fetch(self, policy: PolicyClient) -> Any:
        return policy.user_list(), policy.group_list()

    def show_data(self, data: Any) -> None:
        self.users, self.groups = data
        users = self.query_one("#users", DataTable)
        row = users.cursor_row
        users.clear()
        for user in self.users:
            state = "LOCKED" if user.locked else ("admin" if user.is_admin else "ok")
            users.add_row(user.name, str(user.uid), "set" if user.has_password else "none",
                          state, ", ".join(user.groups), key=user.name)
        if users.row_count:
            users.move_cursor(row=min(row, users.row_count - 1))
        groups = self.query_one("#groups", DataTable)
        grow = groups.cursor_row
        groups.clear()
        for group in self.groups:
            groups.add_row(group.name, str(group.gid), ", ".join(group.members), key=group.name)
        if groups.row_count:
            groups.move_cursor(row=min(grow, groups.row_count - 1))
        self.hint(f"{plural(len(self.users), 'user')}, {plural(len(self.groups), 'group')}.")

    def _selected_user(self) -> UserInfo | None:
        table = self.query_one("#users", DataTable)
        if not self.users or table.cursor_row >= len(self.users):
            return None
        return self.users[table.cursor_row]

    def _selected_group(self) -> GroupInfo | None:
        table = self.query_one("#groups", DataTable)
        if not self.groups or table.cursor_row >= len(self.groups):
            return None
        return self.groups[table.cursor_row]

    # -- actions --------------------------------------------------------------------------

    def action_add_user(self) -> None:
        next_uid = max([u.uid for u in self.users if u.uid >= 1000] + [999]) + 1
        self.ask_then_act("Add a user", [
            Field("name", "Name", placeholder="e.g. alice (a-z 0-9 _ - .)"),
            Field("uid", "User number (uid)", "integer", str(next_uid)),
            Field("password", "Password", "password", required=False),
            Field("again", "Password again", "password", required=False),
        ], lambda v: f"User {v['name']} added.", lambda v: lambda p: p.user_add(
            v["name"], int(v["uid"]), password=v["password"] or None), check=_same_passwords)

    def action_delete(self) -> None:
        if self.query_one("#groups", DataTable).has_focus:
            group = self._selected_group()
            if group is not None:
                self.confirm_then_act(
                    f"Delete group {group.name}?",
                    "Its members stay; shares that name the group lose that entry.",
                    f"Group {group.name} deleted.",
                    lambda p: p.group_del(group.name))
            return
        user = self._selected_user()
        if user is None:
            return
        self.confirm_then_act(
            f"Delete user {user.name}?",
            "They can no longer log in. Their files stay where they are.",
            f"User {user.name} deleted.",
            lambda p: p.user_del(user.name))

    def action_password(self) -> None:
        user = self._selected_user()
        if user is None:
            return
        name = user.name
        self.ask_then_act(f"New password for {name}", [
            Field("password", "New password", "password"),
            Field("again", "Password again", "password"),
        ], f"Password of {name} changed.",
            lambda v: lambda p: p.user_passwd(name, v["password"]), check=_same_passwords)

    def action_unlock(self) -> None:
        user = self._selected_user()
        if user is None:
            return
        self.act(lambda report: report.sentence()[0].upper() + report.sentence()[1:] + ".",
                 lambda p: p.user_unlock_report(user.name))

    def action_add_group(self) -> None:
        next_gid = max([g.gid for g in self.groups if g.gid >= 1000] + [999]) + 1
        self.ask_then_act("Add a group", [
            Field("name", "Name", placeholder="e.g. sales (a-z 0-9 _ - .)"),
            Field("gid", "Group number (gid)", "integer", str(next_gid)),
        ], lambda v: f"Group {v['name']} added.",
            lambda v: lambda p: p.group_add(v["name"], int(v["gid"])))

    def action_member(self, join: bool) -> None:
        user = self._selected_user()
        if user is None or not self.groups:
            self.say("Add a group first (G).", error=True)
            return
        choices = tuple(g.name for g in self.groups
                        if (g.name in user.groups) != join)
        if not choices:
            self.say(f"{user.name} is in no group to leave." if not join
                     else f"{user.name} is already in every group.", error=True)
            return
        verb = "Add" if join else "Remove"
        self.app.push_screen(FormDialog(f"{verb} {user.name} {'to' if join else 'from'} a group", [
            Field("group", "Group", "choice", choices[0], choices=choices),
        ]), lambda values: self._member(user.name, join, values))

    def _member(self, user: str, join: bool, values: dict[str, str] | None) -> None:
        if values is None:
            return
        group = values["group"]
        if join:
            self.act(f"{user} is now in {group}.", lambda p: p.group_adduser(group, user))
        else:
            self.act(f"{user} left {group}.", lambda p: p.group_deluser(group, user))
