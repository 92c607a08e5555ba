"""Base of the screens that show and change daemon data (users, shares, logs, settings,
trash, snapshots).

`fetch()` reads what the screen shows (in a thread worker, through the backend's typed
`PolicyClient`, or the client `with_client` gives); `act()` runs one change in a worker,
tells the outcome in plain words and reads again. Data is read when the screen is shown,
when the daemon comes back and whenever a screen polls.

The message line has two kinds of words. `say` is for what an action did or why it did
not (and the "Working..." before it): those stay until the next action's words. `hint`
is for what a read found ("No shares yet: press A to add one.", a count, why the read
failed): a hint never replaces an action's words, because the next read may come at any
moment (a poll, the screen shown again, the read a dialog's closing starts beside the
action) and used to replace "Share docs deleted." before anyone had read it. A read that
works takes back the last read's hint, so a hint says what the newest read found.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message
from textual.widgets import Static

from console import wording
from console.screens.base import ConsoleScreen
from console.screens.confirm_dialog import ConfirmDialog
from console.screens.form_dialog import Field, FormDialog, Refusal
from console.state import ConsoleState
from nasfs.client import NasfsError

log = logging.getLogger(__name__)


class PolicyScreen(ConsoleScreen):
    @dataclass
    class Loaded(Message):
        """What `fetch` returned, or why it could not (in plain words)."""

        data: Any
        error: str | None = None
        read_no: int = 0  # which read this is: an older read never replaces a newer one

    @dataclass
    class Acted(Message):
        """A change finished: `done` says what happened, `error` why it did not; `data` is
        what `fetch` read after it (None: the read failed and is tried again)."""

        done: str | Callable[[Any], str]  # or the sentence made from the action's result
        error: str | None = None
        result: Any = None
        data: Any = None
        read_no: int = 0

    def __init__(self) -> None:
        super().__init__()
        self._was_running = False
        self._reads = itertools.count(1)  # next() is atomic under the GIL: workers share it
        self._shown_read = 0
        self._action_said = False  # the message line holds an action's words (`say`)

    def fetch(self, client: Any) -> Any:
        """Read the screen's data (runs in a worker thread; override)."""
        return None

    def with_client(self, action: Callable[[Any], Any]) -> Any:
        """Run `action` with this screen's typed client (policy; trash and snapshot screens
        override this). Blocking: worker threads only."""
        return self.console.backend.policy(action)

    def show_data(self, data: Any) -> None:
        """Draw what `fetch` returned (override)."""

    def after_action(self, result: Any) -> None:
        """Called with a successful action's result before the data is read again."""

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()

    def show_state(self, state: ConsoleState) -> None:
        if state.daemon_running and not self._was_running:
            self.load()
        self._was_running = state.daemon_running

    def say(self, text: str, error: bool = False) -> None:
        """What an action did, or why not; it stays until the next action's words
        (`say("")` clears the line and lets hints speak again)."""
        self._show_message(text, error)
        self._action_said = bool(text)

    def hint(self, text: str, error: bool = False) -> None:
        """What a read found: shown unless an action's words are on the line."""
        if not self._action_said:
            self._show_message(text, error)

    def _show_message(self, text: str, error: bool) -> None:
        message = self.query_one("#screen-message", Static)
        message.set_classes("error" if error else "")
        message.update(text)

    @work(thread=True, exclusive=True, group="load")
    def load(self) -> None:
        read_no = next(self._reads)
        try:
            data = self.with_client(self.fetch)
        except NasfsError as exc:
            self.post_message(self.Loaded(None, wording.explain(exc), read_no))
            return
        self.post_message(self.Loaded(data, None, read_no))

    def on_policy_screen_loaded(self, message: Loaded) -> None:
        if message.error is not None:
            self.hint(message.error, error=True)
            return
        self._show_read(message.data, message.read_no)

    def _show_read(self, data: Any, read_no: int) -> None:
        # A read that started before a change may arrive after the change's own read:
        # drawing it would show (and let keys act on) the state before the change.
        if read_no < self._shown_read:
            return
        self._shown_read = read_no
        self.hint("")  # the last read's hint (show_data says this read's, if any)
        self.show_data(data)

    def confirm_then_act(self, question: str, consequence: str, done: str,
                         action: Callable[[Any], Any]) -> None:
        """Ask first (Y/N); run `action` as `act` does only on yes."""

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(done, action)

        self.app.push_screen(ConfirmDialog(question, consequence), answered)

    def ask_then_act(self, title: str, fields: list[Field],
                     done: str | Callable[[dict[str, str]], str],
                     action_for: Callable[[dict[str, str]], Callable[[Any], Any]],
                     check: Callable[[dict[str, str]], str | None] | None = None,
                     help_text: str = "") -> None:
        """A form whose values become an action; the form stays open (with what was typed)
        until the action succeeds, showing why it did not (`check` first, then the daemon).
        An action that returns a `Refusal` changed nothing: the form shows it and stays.
        The screen's data is read again in the same worker after the change, so what is
        drawn with the "done" sentence is the state after it (as `act` does)."""
        outcome: dict[str, Any] = {}

        def submit(values: dict[str, str]) -> str | Refusal | None:  # the dialog's worker
            problem = check(values) if check is not None else None
            if problem is not None:
                return problem
            try:
                result = self.with_client(action_for(values))
            except NasfsError as exc:
                return wording.explain(exc)
            if isinstance(result, Refusal):
                return result
            outcome["result"] = result
            outcome["read_no"] = next(self._reads)
            try:
                outcome["data"] = self.with_client(self.fetch)
            except NasfsError:
                outcome["data"] = None  # read again when the message is handled
            return None

        def closed(values: dict[str, str] | None) -> None:
            if values is not None:
                said = done(values) if callable(done) else done
                self.post_message(self.Acted(said, None, outcome.get("result"),
                                             outcome.get("data"), outcome.get("read_no", 0)))

        self.app.push_screen(FormDialog(title, fields, help_text, submit=submit), closed)

    def act(self, done: str | Callable[[Any], str], action: Callable[[Any], Any]) -> None:
        """Run `action` in a worker; `done` is the sentence shown when it worked."""
        self.say("Working...")
        self._act(done, action)

    @work(thread=True, group="act")
    def _act(self, done: str | Callable[[Any], str], action: Callable[[Any], Any]) -> None:
        try:
            result = self.with_client(action)
        except NasfsError as exc:
            self.post_message(self.Acted(done, wording.explain(exc)))
            return
        # Read again in the same worker, so the sentence and the new state are drawn
        # together: a key pressed after "done" shows acts on the state after the change.
        read_no = next(self._reads)
        try:
            data = self.with_client(self.fetch)
        except NasfsError:
            data = None
        self.post_message(self.Acted(done, None, result, data, read_no))

    def on_policy_screen_acted(self, message: Acted) -> None:
        if message.error is not None:
            self.say(message.error, error=True)
            self.load()
            return
        if message.data is not None:
            self._show_read(message.data, message.read_no)
        self.say(message.done(message.result) if callable(message.done) else message.done)
        self.after_action(message.result)
        if message.data is None:
            self.load()
