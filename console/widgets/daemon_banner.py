"""Shown on every screen while no daemon answers: what that means and what can be done."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class DaemonBanner(Static):
    """The daemon is not running: the reason, and the keys to start it or to recover."""

    DEFAULT_CSS = """
    DaemonBanner {
        height: auto; padding: 0 1; border-left: thick $error; background: $surface;
        display: none;
    }
    DaemonBanner.-shown { display: block; }
    """

    def show(self, problem: str | None, start_command: str, recovery: str | None,
             starting: bool = False) -> None:
        self.set_class(problem is not None, "-shown")
        if problem is None:
            return
        text = Text()
        text.append(problem, "bold")
        text.append("\n")
        if starting:
            text.append("Starting the array... (this can take a minute)")
        else:
            text.append("F11", "bold reverse")
            text.append(f" start the array ({start_command})")
            if recovery is not None:
                text.append("   ")
                text.append("F12", "bold reverse")
                text.append(f" recovery shell ({recovery})")
            text.append("\nIf it will not start, check the disks' cables and power "
                        "(log: /var/log/nasfs/).")
        self.update(text)
