"""One unit system for every front end: the CLI, the console, the mails and the recovery
shell print a size the same way (binary units with IEC names, as df -h counts)."""

from __future__ import annotations

import pytest

from console import format as console_format
from nasfs.client import units
from nasfs.mail import notices

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (1023, "1023 B"), (KIB, "1.0 KiB"), (1536, "1.5 KiB"),
    (5 * MIB, "5.0 MiB"), (200 * 10**9, "186.3 GiB"), (5 * 10**12, "4.5 TiB"),
    (3 * TIB, "3.0 TiB"), (-2 * MIB, "-2.0 MiB"),
])
def test_size_counts_in_powers_of_1024(n: int, text: str) -> None:
    assert units.size(n) == text


def test_console_prints_sizes_as_the_cli_does() -> None:
    for n in (0, 999, 10**6, 10**9, 10**12, 7 * TIB):
        assert console_format.size(n) == units.size(n)
        assert console_format.rate(n) == units.rate(n) == f"{units.size(n)}/s"


def test_mails_name_sizes_in_the_same_units() -> None:
    full = notices.for_full(3 * GIB)
    assert "3.0 GiB for files" in full.body
    capacity = notices.for_capacity(91.0, 90, 91 * MIB, 100 * MIB)
    assert "(91.0 MiB of 100.0 MiB usable)" in capacity.body
