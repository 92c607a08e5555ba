"""Control methods `settings.*`: the policy settings (lock-out, log retention and export)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasfs.daemon.control import MethodTable
from nasfs.daemon.methods.users import register_policy_methods

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

METHODS = ("settings.get", "settings.set")


def register(table: MethodTable, daemon: DaemonHost) -> None:
    register_policy_methods(table, daemon, METHODS)
