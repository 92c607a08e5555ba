"""The footer: every key that acts on the current screen, wrapped onto a second line when
80 columns are not enough (Textual's own footer cuts them off at the edge). Lines break
only between keys, never inside one ("x Leave group" stays together).
"""

from __future__ import annotations

import contextlib

from rich.text import Text
from textual.dom import NoScreen
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: auto; max-height: 3; background: $panel; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self.redraw)

    def on_unmount(self) -> None:
        with contextlib.suppress(NoScreen):
            self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.redraw)

    def redraw(self) -> None:
        if not self.is_attached:
            return  # the screen closed before this deferred redraw ran
        width = self.size.width or self.app.size.width or 80
        text = Text()
        line = 0  # cells used on the current line
        seen: set[str] = set()
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            # Several keys for one action (n and PageDown) show once, as the binding says.
            shown = f"{binding.action}/{binding.description}"
            if not binding.show or shown in seen:
                continue
            seen.add(shown)
            key = self.app.get_key_display(binding)
            entry = len(key) + 1 + len(binding.description)
            if line and line + 2 + entry > width:
                text.append("\n")  # break between keys, not inside one
                line = 0
            elif line:
                text.append("  ")
                line += 2
            style = "" if enabled else "dim"
            text.append(key, f"bold reverse {style}".strip())
            text.append(f" {binding.description}", style)
            line += entry
        self.update(text)
