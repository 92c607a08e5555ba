"""Logs: the access log and the system log in a table, a page at a time, with filters,
chain verification and CSV export in a chosen encoding.

Methods: log.query (pages by `after_id` / `before_id`, so millions of rows are never loaded
at once), log.verify, log.export. Only the rows of the page shown are in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from console.format import when
from console.screens.form_dialog import Field, FormDialog
from console.screens.policy_base import PolicyScreen
from nasfs.client import UnknownOperation, access_operation, operations_help
from nasfs.client.logrows import target, who
from nasfs.client.policy import ExportResult, LogPage, PolicyClient, VerifyResult

FILTER_KEYS = ("since", "until", "user", "share", "op", "result")
ENCODINGS = ("utf-8-sig", "utf-8", "cp932")


@dataclass(frozen=True)
class PageRequest:
    """Which page to read: after an id (forward) or before one (backward, for Previous)."""

    after_id: int = 0
    before_id: int | None = None
    newest: bool = False  # the last page


@dataclass
class LogView:
    kind: str = "access"
    filters: dict[str, str] = field(default_factory=dict)
    page: PageRequest = field(default_factory=PageRequest)
    page_number: int = 1


def row_time(row: dict[str, Any]) -> str:
    ns = row.get("time_ns") or 0
    return when(ns, "%Y-%m-%d %H:%M:%S")


ROW_FIELDS = (("time_ns", "Time"), ("user", "User"), ("uid", "Uid"), ("process", "Process"),
              ("pid", "Pid"), ("client", "Client"), ("operation", "Operation"),
              ("result", "Result"),
              ("share", "Share"), ("path", "Path"), ("second_path", "Second path"),
              ("bytes", "Bytes"), ("admin", "As administrator"), ("detail", "Detail"),
              ("hash", "Chain hash"))


def row_lines(row: dict[str, Any]) -> list[str]:
    """Every field a row has, one per line, nothing cut."""
    lines = []
    for key, label in ROW_FIELDS:
        value = row.get(key)
        if value is None or value == "":
            continue
        if key == "time_ns":
            value = row_time(row)
        elif key == "admin":
            value = "yes" if value else "no"
        elif key == "user":
            value = who(row)
        lines.append(f"{label}: {value}")
    return lines


class RowDialog(ModalScreen[None]):
    """One log row in full; any of Escape, Enter or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close"),
    ]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Label(self.title_text, classes="section-title")
            yield Static("\n".join(self.lines), id="row-text")
            yield Static("Escape or Enter: close")

    def action_close(self) -> None:
        self.dismiss(None)


class LogsScreen(PolicyScreen):
    SCREEN_NAME = "logs"
    # Rows read per page: a screenful or a few, never the whole log.
    PAGE_ROWS: ClassVar[int] = 200
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,pagedown", "page('next')", "Next page", key_display="n"),
        Binding("p,pageup", "page('previous')", "Prev page", key_display="p"),
        Binding("b", "page('first')", "First page"),
        Binding("l", "page('last')", "Last page"),
        Binding("k", "toggle_kind", "Access/system"),
        Binding("f", "filters", "Filter"),
        Binding("x", "export", "Export"),
        Binding("v", "verify", "Verify"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = LogView()
        self.rows: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield Static("", id="log-title")
            yield DataTable(id="log", cursor_type="row", classes="full-height")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#log", DataTable).focus()

    # -- data -----------------------------------------------------------------------------

    def fetch(self, policy: PolicyClient) -> Any:
        view = self.view
        params: dict[str, Any] = {k: v for k, v in view.filters.items() if v}
        page = view.page
        if page.newest or page.before_id is not None:
            if page.before_id is not None:
                params["before_id"] = page.before_id
            result = policy.log_query(view.kind, limit=self.PAGE_ROWS, descending=True, **params)
            return LogPage(result.kind, list(reversed(result.rows)), result.last_id)
        return policy.log_query(view.kind, after_id=page.after_id, limit=self.PAGE_ROWS, **params)

    def show_data(self, data: Any) -> None:
        page: LogPage = data
        table = self.query_one("#log", DataTable)
        if not page.rows and self.rows and self.view.page_number > 1:
            self.view.page_number -= 1
            self.say("There are no more rows.")
            return
        self.rows = page.rows
        table.clear(columns=True)
        if self.view.kind == "access":
            table.add_columns("Time", "User", "Client", "Share", "Operation", "Result", "Path")
            for row in page.rows:
                table.add_row(row_time(row), who(row), row.get("client") or "",
                              row.get("share") or "",
                              row.get("operation") or "", row.get("result") or "",
                              row.get("path") or "")
        else:
            table.add_columns("Time", "Who", "Operation", "Target", "Result", "Detail")
            for row in page.rows:
                table.add_row(row_time(row), who(row), row.get("operation") or "",
                              target(row), row.get("result") or "", row.get("detail") or "")
        filters = ", ".join(f"{k}={v}" for k, v in self.view.filters.items() if v)
        first = page.rows[0]["id"] if page.rows else "-"
        last = page.rows[-1]["id"] if page.rows else "-"
        where = "last page" if self.view.page.newest else f"page {self.view.page_number}"
        self.query_one("#log-title", Static).update(
            f"{self.view.kind.capitalize()} log, {where}: rows {first}..{last}"
            + (f" (filter: {filters})" if filters else "") + ". Enter: a row in full")
        if not page.rows:
            self.hint("No rows match." if filters else "The log is empty.")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_row()

    def action_open_row(self) -> None:
        """The row under the cursor in full: a table cell is cut at the screen's width."""
        table = self.query_one("#log", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return
        row = self.rows[table.cursor_row]
        self.app.push_screen(RowDialog(f"{self.view.kind.capitalize()} log row {row['id']}",
                                       row_lines(row)))

    # -- paging and filters -------------------------------------------------------------

    def action_page(self, where: str) -> None:
        view = self.view
        if where == "first":
            view.page, view.page_number = PageRequest(), 1
        elif where == "last":
            view.page, view.page_number = PageRequest(newest=True), 1
        elif where == "next":
            if not self.rows:
                return
            view.page = PageRequest(after_id=int(self.rows[-1]["id"]))
            view.page_number += 1
        else:
            if not self.rows:
                return
            view.page = PageRequest(before_id=int(self.rows[0]["id"]))
            view.page_number = max(view.page_number - 1, 1)
        self.say("")
        self.load()

    def action_toggle_kind(self) -> None:
        self.view = LogView("system" if self.view.kind == "access" else "access",
                            self.view.filters)
        self.rows = []
        self.say("")
        self.load()

    def action_filters(self) -> None:
        f = self.view.filters
        self.app.push_screen(FormDialog("Filter the log", [
            Field("since", "Since", value=f.get("since", ""), required=False,
                  placeholder="2026-01-31 or 2026-01-31T08:00"),
            Field("until", "Until", value=f.get("until", ""), required=False),
            Field("user", "User", value=f.get("user", ""), required=False),
            Field("share", "Share", value=f.get("share", ""), required=False),
            Field("op", "Operation", value=f.get("op", ""), required=False,
                  placeholder="e.g. delete, open-write; system log: user.add"),
            Field("result", "Result", value=f.get("result", ""), required=False,
                  placeholder="e.g. ok, eacces"),
        ], f"Operations of the access log: {operations_help()}.\n"
           "Empty fields match everything. Tab: next   Enter: apply   Escape: cancel"),
            self._filters_chosen)

    def _filters_chosen(self, values: dict[str, str] | None) -> None:
        if values is None:
            return
        filters = {k: values[k].strip() for k in FILTER_KEYS if values[k].strip()}
        message = ""
        if self.view.kind == "access" and "op" in filters:
            try:  # the everyday word (unlink, write) finds the rows' own name
                filters["op"] = access_operation(filters["op"])
            except UnknownOperation as exc:
                message = str(exc)
                del filters["op"]
        self.view = LogView(self.view.kind, filters)
        self.rows = []
        self.say(message, error=bool(message))
        self.load()

    # -- verify and export --------------------------------------------------------------

    def action_verify(self) -> None:
        kind = self.view.kind
        self.act(f"The {kind} log was checked.", lambda p: p.log_verify(kind))

    def action_export(self) -> None:
        self.app.push_screen(FormDialog(f"Export the {self.view.kind} log (as filtered) to CSV", [
            Field("encoding", "Encoding", "choice", ENCODINGS[0], choices=ENCODINGS),
            Field("path", "File (full path)", placeholder="/srv/nas/exports/log.csv"),
        ], "utf-8-sig opens in Excel; cp932 for Japanese Windows. Ctrl+S: export"),
            self._export_chosen)

    def _export_chosen(self, values: dict[str, str] | None) -> None:
        if values is None:
            return
        kind, filters = self.view.kind, {k: v for k, v in self.view.filters.items() if v}
        path, encoding = values["path"], values["encoding"]
        self.act("Export finished.", lambda p: p.log_export(path, kind, encoding=encoding,
                                                            **filters))

    def after_action(self, result: Any) -> None:
        if isinstance(result, VerifyResult):
            if result.ok:
                self.say(f"The {result.kind} log is intact: {result.rows} rows checked.")
            else:
                self.say(f"The {result.kind} log was altered at row {result.first_bad_id}: "
                         f"{result.problem}. Keep a copy of the database for investigation.",
                         error=True)
        elif isinstance(result, ExportResult):
            self.say(f"{result.rows} rows written to {result.path} ({result.encoding}).")
