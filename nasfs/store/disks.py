"""How people name the array's disks: "disk N", counting from 1.

Inside the code a member is an index counting from 0 (labels, the control protocol, the
store's dictionaries). Everything a person reads or types — CLI output and arguments,
errors, mails, logs, the console, the recovery shell, the docs — says "disk N" with
N = index + 1, so the same disk has the same name everywhere. Convert at that boundary with
these functions and nowhere else.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def disk_name(index: int) -> str:
    """`disk 3` for member index 2."""
    return f"disk {index + 1}"


def disk_names(indexes: Iterable[int]) -> str:
    """`disk 2`, `disks 2 and 4`, `disks 1, 2 and 4` (in order)."""
    numbers = [str(i + 1) for i in sorted(indexes)]
    if len(numbers) <= 1:
        return f"disk {numbers[0]}" if numbers else "no disk"
    return f"disks {', '.join(numbers[:-1])} and {numbers[-1]}"


def disk_index(text: str) -> int:
    """The member index of a disk number a person typed (`3` or `disk 3` → 2).

    For argparse `type=`: a bad number is an argument error that says how disks count.
    """
    word = text.strip().lower().removeprefix("disk").strip()
    if not word.isdigit() or int(word) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a disk number: disks are numbered from 1, as `nasfs status` "
            "lists them")
    return int(word) - 1
