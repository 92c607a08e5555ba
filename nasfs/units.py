"""Sizes for people, one unit system for every front end (CLI, console, recovery shell).

Binary units with IEC names (KiB, MiB, GiB, TiB): `df -h`, `du -h` and `ls -lh` count in
powers of 1024 as well, so a figure nasfs prints can be compared with theirs by eye. A
base module that every layer may use (mail notices, the recovery shell); the console, which
imports nothing of nasfs but nasfs.client, has it as `nasfs.client.units`.
"""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float) -> str:
    """1234567 -> '1.2 MiB'; whole bytes below 1 KiB ('512 B'); negative figures keep their
    sign (a shrinking total)."""
    value = float(n)
    for unit in UNITS:
        if abs(value) < 1024 or unit == UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate(bytes_per_s: float) -> str:
    """Bytes per second in the same units: '95.4 MiB/s'."""
    return f"{size(bytes_per_s)}/s"
