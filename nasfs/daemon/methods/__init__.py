"""Control methods, one module per group; each module has `register(table, daemon)`.

To add a group (users, shares, trash, snapshots, logs...): write
`nasfs/daemon/methods/<group>.py` with a `register` function that adds its handlers to the
table, and list the module in GROUPS. The server itself never changes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from nasfs.daemon.control import MethodTable

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

GROUPS: tuple[str, ...] = (
    "array", "users", "groups", "auth", "shares", "log", "settings", "trash", "snapshots",
    "mail", "space", "smb", "backup",
)


def register_all(table: MethodTable, daemon: DaemonHost) -> None:
    for name in GROUPS:
        module = importlib.import_module(f"nasfs.daemon.methods.{name}")
        module.register(table, daemon)
