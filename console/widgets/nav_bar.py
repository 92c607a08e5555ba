"""The second line of every screen: the function keys that switch screens, always shown.

Screens whose daemon methods do not exist yet are left out rather than shown broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class NavEntry:
    key: str  # as shown: "F1"
    title: str
    screen: str  # the App's screen name


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; background: $boost; }
    """

    def show(self, entries: list[NavEntry], current: str) -> None:
        width = self.size.width or 80
        # The key in reverse video and no space after it: eight screens fit in 80 columns.
        # Ten do when the keys are shown as their digits (1 for F1: both work) with no space
        # between entries (the reverse-video digit is the separator): 75 columns.
        line = _line(entries, current, digits=False)
        if line.cell_len > width:
            line = _line(entries, current, digits=True)
        line.truncate(width, overflow="ellipsis")
        self.update(line)


def _line(entries: list[NavEntry], current: str, *, digits: bool) -> Text:
    line = Text()
    for entry in entries:
        style = "bold underline" if entry.screen == current else ""
        line.append(entry.key.removeprefix("F") if digits else entry.key, "reverse")
        line.append(entry.title, style)
        if not digits:
            line.append(" ")
    return line
