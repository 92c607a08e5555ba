"""Trash: what was deleted or overwritten on each share; restore or purge the marked items,
empty a share's trash. Filters: share and user (asked of the daemon), path and date (applied
to the list it returned).

Methods: trash.list, trash.usage, trash.restore, trash.purge (nasfs.client.trash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from console import format as fmt
from console.format import when
from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from nasfs.client.trash import TrashClient, TrashItemInfo


@dataclass
class TrashFilter:
    share: str = ""
    user: str = ""
    path: str = ""  # part of the path
    since: str = ""  # YYYY-MM-DD, deleted on or after

    def matches(self, item: TrashItemInfo) -> bool:
        if self.path and self.path not in item.path:
            return False
        return not self.since or day(item.deleted_ns) >= self.since

    def words(self) -> str:
        parts = [f"{k}={v}" for k, v in self.__dict__.items() if v]
        return f" (filter: {', '.join(parts)})" if parts else ""


@dataclass
class TrashView:
    items: list[TrashItemInfo] = field(default_factory=list)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)


def day(ns: int) -> str:
    return when(ns, "%Y-%m-%d")


def stamp(ns: int) -> str:
    return when(ns)


class TrashScreen(PolicyScreen):
    SCREEN_NAME = "trash"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", key_display="Space"),
        Binding("r", "restore", "Restore"),
        Binding("d", "purge", "Purge"),
        Binding("e", "empty", "Empty share"),
        Binding("f", "filter", "Filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = TrashFilter()
        self.shown: list[TrashItemInfo] = []
        self.marked: set[int] = set()

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield Static("", id="trash-title")
            yield DataTable(id="trash", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#trash", DataTable).add_columns(
            " ", "Deleted", "Share", "Path", "User", "Size", "How")
        super().on_mount()
        self.query_one("#trash", DataTable).focus()

    def with_client(self, action: Any) -> Any:
        return self.console.backend.trash(action)

    def fetch(self, client: TrashClient) -> Any:
        items = client.items(self.filter.share or None, user=self.filter.user or None)
        return TrashView(items, client.usage())

    def show_data(self, data: Any) -> None:
        view: TrashView = data
        self.shown = [i for i in view.items if self.filter.matches(i)]
        self.marked &= {i.id for i in self.shown}
        table = self.query_one("#trash", DataTable)
        row = table.cursor_row
        table.clear()
        for item in self.shown:
            table.add_row("*" if item.id in self.marked else " ", stamp(item.deleted_ns),
                          item.share, fmt.short_path(item.path, 30), item.user or str(item.uid),
                          fmt.size(item.size), item.how,
                          key=str(item.id))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        usage = ", ".join(f"{share} {fmt.size(u.get('bytes', 0))}"
                          for share, u in sorted(view.usage.items()))
        self.query_one("#trash-title", Static).update(
            f"{len(self.shown)} items{self.filter.words()}. In the trash: {usage or 'nothing'}.")

    def _current(self) -> TrashItemInfo | None:
        row = self.query_one("#trash", DataTable).cursor_row
        return self.shown[row] if self.shown and row < len(self.shown) else None

    def _chosen(self) -> list[TrashItemInfo]:
        """The marked items, or the highlighted one when none is marked."""
        marked = [i for i in self.shown if i.id in self.marked]
        current = self._current()
        return marked or ([current] if current is not None else [])

    def action_mark(self) -> None:
        item = self._current()
        if item is None:
            return
        self.marked ^= {item.id}
        table = self.query_one("#trash", DataTable)
        table.update_cell(str(item.id), table.ordered_columns[0].key,
                          "*" if item.id in self.marked else " ")
        table.move_cursor(row=table.cursor_row + 1)

    def action_restore(self) -> None:
        items = self._chosen()
        if not items:
            return
        ids = [i.id for i in items]

        def restore(client: TrashClient) -> list[str]:
            return [f"{r.share}{r.path}" for r in (client.restore(i) for i in ids)]

        self.marked.clear()
        self.act(f"{len(ids)} item(s) restored to where they were.", restore)

    def action_purge(self) -> None:
        items = self._chosen()
        if not items:
            return
        ids = [i.id for i in items]
        self.confirm_then_act(
            f"Purge {len(ids)} item(s) for good?",
            "They are removed from the trash and cannot be restored (snapshots that hold "
            "them keep them).",
            f"{len(ids)} item(s) purged.",
            lambda client: [client.purge(i) for i in ids])

    def action_empty(self) -> None:
        item = self._current()
        share = self.filter.share or (item.share if item else "")
        if not share:
            return
        self.confirm_then_act(
            f"Empty the trash of share {share}?",
            "Everything in it is removed for good.",
            f"The trash of {share} is empty.",
            lambda client: client.purge(share=share))

    def action_filter(self) -> None:
        f = self.filter
        self.app.push_screen(FormDialog("Filter the trash", [
            Field("share", "Share", value=f.share, required=False),
            Field("user", "User", value=f.user, required=False),
            Field("path", "Path contains", value=f.path, required=False),
            Field("since", "Deleted since", value=f.since, required=False,
                  placeholder="YYYY-MM-DD"),
        ], "Empty fields match everything. Tab: next   Enter: apply   Escape: cancel"),
            self._filtered)

    def _filtered(self, values: dict[str, str] | None) -> None:
        if values is not None:
            self.filter = TrashFilter(**values)
            self.say("")
            self.load()
