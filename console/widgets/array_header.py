"""The top line of every screen: the array's state in words, and where it is mounted.

The state is a word (HEALTHY, DEGRADED...), not only a colour: a vt220 line has none.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.state import ConsoleState

STATE_STYLE = {
    "HEALTHY": "bold green",
    "DEGRADED": "bold yellow",
    "REBUILDING": "bold yellow",
    "FAILED": "bold red",
    "READ-ONLY": "bold red",
    "NO SERVICE": "bold red",
    "STOPPED": "bold red",
}


class ArrayHeader(Static):
    """`nasfs │ array HEALTHY │ mounted at /srv/nas │ scrub running`"""

    DEFAULT_CSS = """
    ArrayHeader { height: 1; background: $panel; color: $foreground; }
    """

    def show(self, state: ConsoleState) -> None:
        word = state.state_word
        line = Text.assemble(("nasfs", "bold"), " │ array ", (word, STATE_STYLE.get(word, "")))
        status = state.status
        if state.daemon_running and status is not None:
            where = f"mounted at {status.mountpoint}" if status.mounted else "not mounted"
            line.append(f" │ {where}")
            job = status.running_job or (state.job.name if state.job and not state.job.finished
                                         else None)
            if job:
                line.append(f" │ {job} running")
        line.truncate(self.size.width or 80, overflow="ellipsis")
        self.update(line)
