"""Login: name and password, checked by the daemon's `auth.check` (source "console").

The daemon owns the lock-out policy; this screen only counts the attempts it has seen and
words the answers so that a wrong name and a wrong password look the same, and a locked
account is told apart only once the daemon says the lock is in place. If the daemon cannot
check passwords (no `auth.check`), its message is shown and the console stays locked:
there is no console-side password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from console import wording
from console.backend import AuthAnswer
from console.screens.base import ConsoleScreen
from nasfs.client import DaemonError, DaemonGone, DaemonNotRunning, NasfsError, codes

REFUSED = "Name or password not accepted."


class LoginScreen(ConsoleScreen):
    SCREEN_NAME = "login"
    SHOW_NAV = False
    BINDINGS: ClassVar[list[BindingType]] = []

    @dataclass
    class Answered(Message):
        """The daemon's verdict on one attempt, or why it could not give one."""

        name: str
        answer: AuthAnswer | None
        error: str | None = None
        cannot_check: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.checking = False

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Label("Log in to manage the NAS", classes="section-title")
            with Horizontal(classes="form-row"):
                yield Label("Name")
                yield Input(id="name")
            with Horizontal(classes="form-row"):
                yield Label("Password")
                yield Input(id="password", password=True)
            yield Static("", id="login-message")
            yield Static("Enter moves to the next field and logs in.", id="login-help")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "name":
            self.query_one("#password", Input).focus()
            return
        name = self.query_one("#name", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not name or self.checking:
            self.query_one("#name", Input).focus()
            return
        self.checking = True
        self._say("Checking...", "")
        self._check(name, password)

    @work(thread=True, exclusive=True, group="login")
    def _check(self, name: str, password: str) -> None:
        try:
            answer = self.console.backend.auth_check(name, password)
        except DaemonError as exc:
            cannot = exc.code == codes.UNKNOWN_METHOD
            text = (f"This nasfs service cannot check passwords yet, so the console stays "
                    f"locked. The service said: {exc}" if cannot else wording.explain(exc))
            self.post_message(self.Answered(name, None, text, cannot))
            return
        except (DaemonNotRunning, DaemonGone) as exc:
            self.post_message(self.Answered(
                name, None, f"Logging in needs the nasfs service. {wording.explain(exc)}"))
            return
        except NasfsError as exc:
            self.post_message(self.Answered(name, None, wording.explain(exc)))
            return
        self.post_message(self.Answered(name, answer))

    def on_login_screen_answered(self, message: Answered) -> None:
        self.checking = False
        password = self.query_one("#password", Input)
        password.value = ""
        if message.answer is None:
            self._say(message.error or "", "error")
            return
        if message.answer.ok:
            self._say("", "")
            self.console.unlock(message.name)
            return
        self.failures += 1
        if message.answer.not_admin:
            text = ("This account may not administer the NAS: only an administrator can use "
                    "the console.")
        elif message.answer.locked:
            # The daemon says what is locked, for how long, and the commands that unlock it.
            detail = message.answer.message or "too many failed logins."
            text = (f"This account is locked: {detail} Another administrator can also unlock "
                    "it on the Users screen.")
        else:
            text = f"{REFUSED} Failed attempts: {self.failures}."
        self._say(text, "error")
        self.query_one("#name", Input).focus()

    def _say(self, text: str, css_class: str) -> None:
        message = self.query_one("#login-message", Static)
        message.set_classes(css_class)
        message.update(text)
