"""What the gate asks of each kind of folder it serves: the namespace protocol.

A namespace owns a range of kernel inode numbers (inodes.py); the gate picks it by the
number a request names (`Gate._space`) and hands it the request with the caller's principal.
Namespaces judge and log through the one `Judge`, so every refusal is logged.

Read-only namespaces (`#trash`, `#snapshot`) answer every write-type request with the error
`refuse` returns (logged); the live tree returns None there and takes changes through
`LiveChanges` (live_changes.py). A virtual folder that appears in every share folder
(`ShareFolder`) also says its name and its attributes there.
"""

from __future__ import annotations

from typing import Protocol

from nasfs.errors import NasfsError
from nasfs.fs import Attributes, Caller
from nasfs.policy.acl import Principal
from nasfs.policy.gate.handles import Handle, Listed
from nasfs.policy.gate.judge import Where


class Namespace(Protocol):
    def where(self, ino: int, name: bytes | None = None) -> Where:
        """(share, path inside it) of inode `ino`, or of its entry `name`, for the log."""
        ...

    def timeouts(self, ino: int) -> tuple[float, float]:
        """(entry, attribute) timeouts the kernel may cache an entry of `ino` for."""
        ...

    def negative_timeout(self, parent: int) -> float:
        """How long the kernel may remember that a name is missing in `parent`."""
        ...

    def blocks(self, a: Attributes) -> int:
        """st_blocks of attributes this namespace returned."""
        ...

    def forget(self, ino: int, n: int) -> None: ...

    async def lookup(self, parent: int, name: bytes, who: Principal,
                     caller: Caller) -> Attributes | None:
        """Attributes of `name` in `parent`, or None (absent, or shadowed for the caller)."""
        ...

    async def getattr(self, ino: int, who: Principal, caller: Caller) -> Attributes: ...

    async def readlink(self, ino: int, who: Principal, caller: Caller) -> bytes: ...

    async def open(self, ino: int, flags: int, who: Principal, caller: Caller) -> Handle: ...

    async def opendir(self, ino: int, who: Principal, caller: Caller) -> Handle: ...

    def readdir(self, h: Handle, after: int) -> list[Listed]:
        """The next entries after offset `after` of listing `h` (one of this namespace's)."""
        ...

    def listed(self, h: Handle | None, ino: int) -> None:
        """The kernel took entry `ino` (this namespace's) from a readdirplus reply of `h`."""
        ...

    async def getxattr(self, ino: int, name: bytes, who: Principal, caller: Caller) -> bytes: ...

    async def listxattr(self, ino: int, who: Principal, caller: Caller) -> list[bytes]: ...

    async def refuse(self, who: Principal, caller: Caller, ino: int, operation: str,
                     name: bytes | None = None) -> NasfsError | None:
        """The logged error for a write-type request on `ino` (or its entry `name`); None
        if this namespace takes changes."""
        ...


class ShareFolder(Namespace, Protocol):
    """A virtual folder shown in every share folder under a reserved name."""

    name: bytes

    def folder_attrs(self, share: str) -> Attributes:
        """The folder's attributes in share `share` (its inode number included)."""
        ...
