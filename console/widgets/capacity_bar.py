"""A capacity bar drawn with characters that differ without colour: used █, reclaimable ▒,
free ░, and a legend with the sizes.

Snapshot reserve and trash appear once the daemon reports them (fields `reserve_bytes`,
`trash_bytes` of the capacity); until then the legend says they are not reported.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from nasfs.client import Capacity

PARTS = (  # (field, label, character, style)
    ("used_bytes", "used", "█", "cyan"),
    ("reserve_bytes", "reserve", "▓", "magenta"),
    ("trash_bytes", "trash", "▒", "yellow"),
    ("dead_bytes", "to reclaim", "▒", "bright_black"),
    ("free_bytes", "free", "░", "green"),
)


class CapacityBar(Static):
    DEFAULT_CSS = """
    CapacityBar { height: 2; }
    """

    def show(self, capacity: Capacity | None) -> None:
        if capacity is None:
            self.update("Capacity: not known")
            return
        sizes = [(label, char, style, int(getattr(capacity, name, 0) or 0))
                 for name, label, char, style in PARTS if hasattr(capacity, name)]
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
            legend.append(char, style)
            legend.append(f" {label} {fmt.size(n)}  ")
        missing = [label for name, label, *_ in PARTS if not hasattr(capacity, name)]
        if missing:
            legend.append(f"({', '.join(missing)}: not reported)")
        legend.truncate(width + 2, overflow="ellipsis")
        self.update(Text("\n").join([bar, legend]))
