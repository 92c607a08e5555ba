"""Asks which disk to rebuild and onto which new, empty directory; returns a RebuildRequest.

The disk number is the one people see (disk 1, 2...), converted here to the member index
the daemon counts from 0. The daemon checks the directory itself and says why it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from console import format as fmt
from nasfs.client import ArrayStatus


@dataclass(frozen=True)
class RebuildRequest:
    member_index: int  # 0-based, as the daemon counts
    onto: str


class RebuildDialog(ModalScreen[RebuildRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "confirm", "Rebuild", priority=True),
    ]

    def __init__(self, status: ArrayStatus) -> None:
        super().__init__()
        self.status = status

    def compose(self) -> ComposeResult:
        first_missing = self.status.missing[0] + 1 if self.status.missing else ""
        with Vertical(classes="dialog"):
            yield Label("Replace a disk and rebuild it", classes="section-title")
            yield Static("Give the number of the failed disk and the directory where the new "
                         "disk is mounted (it must be empty). Tab moves between the fields, "
                         "Enter starts, Escape cancels.")
            with Horizontal(classes="form-row"):
                yield Label("Disk number")
                yield Input(str(first_missing), id="disk-number", type="integer")
            with Horizontal(classes="form-row"):
                yield Label("New disk's directory")
                yield Input(id="onto", placeholder="/srv/disk-new")
            yield Static("", id="dialog-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#onto" if self.status.missing else "#disk-number", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        error = self.query_one("#dialog-error", Static)
        number_text = self.query_one("#disk-number", Input).value.strip()
        onto = self.query_one("#onto", Input).value.strip()
        count = len(self.status.members)
        if not number_text.isdigit() or not 1 <= int(number_text) <= count:
            error.update(f"The disk number is a number from 1 to {count}.")
            return
        index = int(number_text) - 1
        if index not in self.status.missing:
            error.update(f"{fmt.disk_name(index).capitalize()} is working; only a failed or "
                         "missing disk can be rebuilt.")
            return
        if not onto.startswith("/"):
            error.update("Give the new disk's directory as a full path, starting with /.")
            return
        self.dismiss(RebuildRequest(index, onto))
