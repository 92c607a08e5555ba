"""The frame every console screen shares: array header, screen keys, daemon banner, footer.

A screen subclasses `ConsoleScreen`, yields its body from `compose_body()` and redraws it
in `show_state()`, which runs whenever the App's `ConsoleState` changes (status poll, job
progress, daemon gone or back).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.screen import Screen

from console.state import ConsoleState
from console.widgets.array_header import ArrayHeader
from console.widgets.daemon_banner import DaemonBanner
from console.widgets.key_bar import KeyBar
from console.widgets.nav_bar import NavBar

if TYPE_CHECKING:
    # The one type-only back-reference left in the package: Textual hands a screen its app
    # typed as a plain `App` (Screen.app), and the screens use the console's own members
    # (backend, state, the job starters), so `console` names the app class for the type
    # checker only; at run time a screen imports nothing of the app that builds it.
    from console.app import NasConsole

log = logging.getLogger(__name__)


class ConsoleScreen(Screen[None]):
    """Base of all console screens (see the module docstring)."""

    DEFAULT_CSS = """
    ConsoleScreen { layout: vertical; }
    """

    # The App's mode name of this screen, for the highlighted key in the NavBar.
    SCREEN_NAME: ClassVar[str] = ""
    SHOW_NAV: ClassVar[bool] = True

    @property
    def console(self) -> NasConsole:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ArrayHeader()
        yield NavBar()
        yield DaemonBanner()
        yield from self.compose_body()
        yield KeyBar()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.watch(self.app, "state", self._state_changed, init=True)

    def on_screen_resume(self) -> None:
        self._state_changed(self.console.state)

    def _state_changed(self, state: ConsoleState) -> None:
        if not self.is_mounted:
            return
        self.query_one(ArrayHeader).show(state)
        self.query_one(NavBar).show(self.console.nav_entries() if self.SHOW_NAV else [],
                                    self.SCREEN_NAME)
        self.query_one(DaemonBanner).show(
            state.problem if not state.daemon_running else None,
            "nasfs " + " ".join(self.console.backend.start_args()),
            "nasfs recovery" if self.console.backend.recovery_available() else None,
            starting=self.console.starting_daemon)
        self.show_state(state)

    def show_state(self, state: ConsoleState) -> None:
        """Redraw the body from `state` (override)."""
