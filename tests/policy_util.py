"""Shared set-up for the policy tests: a PolicyService on real member directories."""

from __future__ import annotations

from pathlib import Path

from nasfs.policy import ManualClock, PolicyService
from nasfs.policy.admin import Actor
from nasfs.policy.hooks import NO_HOOKS

ROOT = Actor(0, 1, "test")


def open_policy(base: Path, clock: ManualClock | None = None) -> PolicyService:
    dirs = [base / f"disk{i}" / "nasfs" / "db" for i in range(3)]
    return PolicyService.open(dirs, nparity=1, identity="test-array", hooks=NO_HOOKS,
                              clock=clock or ManualClock())
