"""A small keyboard form in a dialog: text, password, number and choice fields.

Tab moves between fields, Enter saves, Escape cancels. Returns the values as text by field
name (choices as the chosen value), or None when cancelled. Checks only the shape of what
was typed (required, whole number); the daemon checks the meaning and says why it refuses.
With `submit` (a blocking call, run in a worker), the dialog stays open until it succeeds:
a refusal is shown in the dialog and everything typed stays there to be corrected. A
`Refusal` may also fill fields in (an ssh host key's fingerprint to confirm by saving again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static


class FormBody(VerticalScroll, can_focus=False):
    """Scrolls when the fields do not fit (the share form at 80x24), without being a tab
    stop of its own: Tab goes from field to field as before."""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # "text" | "password" | "integer" | "choice"
    value: str = ""
    required: bool = True
    choices: tuple[str, ...] = ()
    placeholder: str = ""


@dataclass(frozen=True)
class Refusal:
    """Why `submit` did not go through, and values to put into fields (by name) for the
    next save."""

    text: str
    fill: dict[str, str]


class FormDialog(ModalScreen[dict[str, str] | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, title: str, fields: list[Field], help_text: str = "",
                 submit: Callable[[dict[str, str]], str | Refusal | None] | None = None
                 ) -> None:
        super().__init__()
        self.submit = submit  # values -> None when done, or why not (shown, dialog stays)
        self.title_text = title
        self.fields = fields
        self.help_text = help_text or ("Tab: next field   Enter or Ctrl+S: save   "
                                        "Escape: cancel")

    def compose(self) -> ComposeResult:
        # Scrolls when the fields do not fit 24 lines (the share form); the focused field
        # is scrolled into view as Tab moves.
        with FormBody(classes="dialog"):
            yield Label(self.title_text, classes="section-title")
            for field in self.fields:
                with Horizontal(classes="form-row"):
                    yield Label(field.label)
                    if field.kind == "choice":
                        yield Select([(c, c) for c in field.choices], value=field.value
                                     or field.choices[0], allow_blank=False,
                                     id=f"field-{field.name}")
                    else:
                        yield Input(field.value, id=f"field-{field.name}",
                                    password=field.kind == "password",
                                    type="integer" if field.kind == "integer" else "text",
                                    placeholder=field.placeholder)
            yield Static(self.help_text)
            yield Static("", id="form-error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        values: dict[str, str] = {}
        for field in self.fields:
            widget = self.query_one(f"#field-{field.name}")
            if isinstance(widget, Select):
                values[field.name] = str(widget.value)
                continue
            assert isinstance(widget, Input)
            text = widget.value if field.kind == "password" else widget.value.strip()
            if field.required and not text:
                self._error(f"{field.label} is needed.")
                widget.focus()
                return
            if field.kind == "integer" and text and not text.lstrip("-").isdigit():
                self._error(f"{field.label} is a whole number.")
                widget.focus()
                return
            values[field.name] = text
        if self.submit is None:
            self.dismiss(values)
            return
        self._error("Working...")
        self._submit(values)

    @work(thread=True, exclusive=True, group="submit")
    def _submit(self, values: dict[str, str]) -> None:
        assert self.submit is not None
        problem = self.submit(values)
        self.app.call_from_thread(self._submitted, values, problem)

    def _submitted(self, values: dict[str, str], problem: str | Refusal | None) -> None:
        if problem is None:
            self.dismiss(values)
            return
        if isinstance(problem, Refusal):
            for name, value in problem.fill.items():
                self.query_one(f"#field-{name}", Input).value = value
            problem = problem.text
        self._error(problem)

    def _error(self, text: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(text)
        # Below the last field: in a form taller than the screen it would be out of sight.
        self.call_after_refresh(error.scroll_visible, animate=False)
