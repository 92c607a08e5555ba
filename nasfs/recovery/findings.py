"""A finding of a check: what is wrong, in one sentence, and whether `fsck --repair` fixes it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    area: str  # members | metadata | namespace | references | store
    message: str
    fixable: bool = False  # `fsck --repair` can fix it safely

    def line(self) -> str:
        mark = " [fsck --repair fixes this]" if self.fixable else ""
        return f"{self.area}: {self.message}{mark}"
