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
        first_missing = self.status.missing[0] if self.status.missing else None
        number = "" if first_missing is None else str(first_missing + 1)
        with Vertical(classes="dialog"):
            yield Label("Replace a disk and rebuild it", classes="section-title")
            yield Static("First the number of the failed disk, then the directory where the "
                         "new disk is mounted (it must be empty; filled in with where the "
                         "failed disk was). Tab moves between the fields, typing replaces "
                         "what is filled in, Enter starts, Escape cancels.")
            with Horizontal(classes="form-row"):
                yield Label("Disk number")
                yield Input(number, id="disk-number", type="integer")
            with Horizontal(classes="form-row"):
                yield Label("New disk's directory")
                yield Input(self.old_path(first_missing), id="onto", placeholder="/srv/disk-new")
            yield Static("", id="dialog-error", classes="error")

    def old_path(self, index: int | None) -> str:
        """Where disk `index` was: a new disk is often mounted in the failed one's place."""
        for member in self.status.members:
            if member.index == index and member.path:
                return member.path
        return ""

    def on_input_changed(self, event: Input.Changed) -> None:
        """A different disk number: offer that disk's old place, unless the directory was
        typed by hand."""
        if event.input.id != "disk-number":
            return
        onto = self.query_one("#onto", Input)
        known = {self.old_path(i) for i in range(len(self.status.members))} | {""}
        text = event.value.strip()
        if onto.value in known and text.isdigit():
            onto.value = self.old_path(int(text) - 1)

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
