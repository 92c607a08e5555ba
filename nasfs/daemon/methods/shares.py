"""Control methods `share.*`: shares, their options and ACLs, effective access."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasfs.daemon.control import MethodTable
from nasfs.daemon.methods.users import register_policy_methods

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

METHODS = ("share.list", "share.show", "share.create", "share.edit", "share.del", "share.acl",
           "share.effective")


def register(table: MethodTable, daemon: DaemonHost) -> None:
    register_policy_methods(table, daemon, METHODS)
