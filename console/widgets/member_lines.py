"""One line per member disk: its number, its directory, and whether it is in use."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from nasfs.client import ArrayStatus

MEMBER_WORDS = {"ok": ("ok", "green"), "missing": ("MISSING", "bold red")}


class MemberLines(Static):
    DEFAULT_CSS = """
    MemberLines { height: auto; }
    """

    def show(self, status: ArrayStatus | None) -> None:
        if status is None:
            self.update("Disks: not known")
            return
        text = Text()
        for i, member in enumerate(status.members):
            word, style = MEMBER_WORDS.get(member.state, (member.state.upper(), "bold"))
            if status.rebuild_in_progress == member.index:
                word, style = "REBUILD INTERRUPTED", "bold yellow"
            if i:
                text.append("\n")
            text.append(f"{fmt.disk_name(member.index):8}")
            text.append(f"{word:11}", style)
            width = self.size.width or 80
            text.append(fmt.short_path(member.path, width - 19) if member.path
                        else "(no directory: the disk is gone)")
        lines = text.split("\n")
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        self.update(Text("\n").join(lines))
