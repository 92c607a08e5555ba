"""A capacity bar drawn with characters that differ without colour: files █, snapshots ▓,
trash ▒, reclaimable ▒ (dim), free ░, and a legend with the sizes.

Snapshot-held and trash bytes are part of the daemon's `used_bytes`; when the daemon
reports them (a mounted array) they are drawn as their own parts of it. The second line is
the legend (parts of zero bytes left out; used and free always stay), the third tells the
reclaimable bytes and the snapshot reserve with how much of it snapshots hold, so both
lines fit 80 columns.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from nasfs.client import Capacity

ALWAYS = ("used", "free")
RECLAIMABLE = "reclaimable"


def parts(capacity: Capacity) -> list[tuple[str, str, str, int]]:
    """(label, character, style, bytes) of each part of the bar, in order."""
    held = capacity.snapshot_held_bytes
    trash = capacity.trash_bytes
    files = capacity.used_bytes - (held or 0) - (trash or 0)
    found = [("used", "█", "cyan", max(files, 0))]
    if held is not None:
        found.append(("snapshots", "▓", "magenta", held))
    if trash is not None:
        found.append(("trash", "▒", "yellow", trash))
    found.append((RECLAIMABLE, "▒", "bright_black", capacity.dead_bytes))
    found.append(("free", "░", "green", capacity.free_bytes))
    return found


class CapacityBar(Static):
    DEFAULT_CSS = """
    CapacityBar { height: 3; }
    """

    def show(self, capacity: Capacity | None) -> None:
        if capacity is None:
            self.update("Capacity: not known")
            return
        sizes = parts(capacity)
        total = max(sum(n for *_, n in sizes), 1)
        width = max((self.size.width or 80) - 2, 10)
        bar = Text("[")
        drawn = 0
        for i, (_, char, style, n) in enumerate(sizes):
            cells = width - drawn if i == len(sizes) - 1 else round(width * n / total)
            cells = min(cells, width - drawn)
            bar.append(char * cells, style)
            drawn += cells
        bar.append("]")
        legend = Text()
        for label, char, style, n in sizes:
            if label == RECLAIMABLE:
                continue
            if n or label in ALWAYS:
                legend.append(char, style)
                legend.append(f" {label} {fmt.size(n)}  ")
        legend.truncate(width + 2, overflow="ellipsis")
        note = Text()
        note.append("▒", "bright_black")
        note.append(f" {RECLAIMABLE} {fmt.size(capacity.dead_bytes)}   ")
        reserve = capacity.snapshot_reserve_bytes
        if reserve is not None:
            held = capacity.snapshot_held_bytes or 0
            note.append(f"snapshot reserve {fmt.size(reserve)}, {fmt.size(held)} of it held")
        else:
            note.append("snapshots and trash: not reported")
        note.truncate(width + 2, overflow="ellipsis")
        self.update(Text("\n").join([bar, legend, note]))
