"""The Settings screen explains every setting the daemon has, in one line that fits."""

from __future__ import annotations

from console.screens.settings import MEANINGS
from nasfs.policy.settings import SETTINGS


def test_every_setting_has_a_one_line_meaning() -> None:
    assert set(MEANINGS) == set(SETTINGS)
    assert all(0 < len(text) <= 76 and "\n" not in text for text in MEANINGS.values())
