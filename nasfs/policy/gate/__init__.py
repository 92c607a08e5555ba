"""The policy gate between the FUSE adapter and the filesystem (see routing.py for the
picture, docs/architecture.md "The policy gate" for the contract)."""

from nasfs.policy.gate.handles import Handle, Listed
from nasfs.policy.gate.nodemap import TRASH_NAME, Node
from nasfs.policy.gate.routing import Gate
from nasfs.policy.gate.snapshot_folder import SNAPSHOT_NAME
from nasfs.policy.gate.timeouts import ENTRY_TIMEOUT

RESERVED_NAMES = frozenset({TRASH_NAME, SNAPSHOT_NAME})

__all__ = ["ENTRY_TIMEOUT", "RESERVED_NAMES", "SNAPSHOT_NAME", "TRASH_NAME", "Gate", "Handle",
           "Listed", "Node"]
