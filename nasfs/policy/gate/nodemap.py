"""The gate's map of live inodes the kernel holds: inode -> (parent, name, share, home folder,
trash item). The paths the access log shows for them are rebuilt from it (logpaths.py).

Filled on lookup, create and for each readdirplus entry the kernel takes; updated on rename;
an entry goes when the kernel forgets its inode. The kernel only names inodes it looked up
through the gate, so the map is complete for every request it sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasfs.fs import ROOT_INODE, Attributes
from nasfs.policy.gate.inodes import FolderNumbers
from nasfs.policy.gate.judge import Judge

TRASH_NAME = b"#trash"


@dataclass(slots=True)
class Node:
    """Where a (kernel-known) inode lives: its last known name and its share."""

    parent: int
    name: bytes
    share: str | None  # None: a top-level entry that is no share (administrators only)
    home: str | None = None  # in `homes`: the owner folder it is in
    # The trash item this inode is (its last name went to the trash): the item id. Only
    # the last name of a file ever goes there, so no live name shares a trashed inode.
    trash: int = 0
    # Reached through a `#trash` name: read-only. A process that opened the file before it
    # was deleted keeps what POSIX gives an unlinked open file (fchmod, ftruncate, ...).
    via_trash: bool = False


class NodeMap:
    def __init__(self, judge: Judge, trash_folders: FolderNumbers) -> None:
        self.judge = judge
        self.trash_folders = trash_folders
        self.nodes: dict[int, Node] = {}

    def get(self, ino: int) -> Node | None:
        return self.nodes.get(ino)

    def is_share_root(self, ino: int) -> bool:
        node = self.nodes.get(ino)
        return node is not None and node.parent == ROOT_INODE and node.share is not None

    def is_homes_root(self, ino: int) -> bool:
        node = self.nodes.get(ino)
        if node is None or node.parent != ROOT_INODE or node.share is None:
            return False
        share = self.judge.share_named(node.name)
        return share is not None and share.homes

    def child(self, parent: int, name: bytes, *, trash: int = 0) -> Node | None:
        """Where entry `name` of `parent` lives (None: `parent` is not in the map)."""
        if parent == ROOT_INODE:
            share = self.judge.share_named(name)
            return Node(ROOT_INODE, name, share.name if share else None)
        tshare = self.trash_folders.share(parent)
        if tshare is not None:
            return Node(parent, name, tshare, None, trash, via_trash=True)
        p = self.nodes.get(parent)
        if p is None:
            return None
        home = p.home
        if home is None and self.is_homes_root(parent):
            home = name.decode("utf-8", "surrogateescape")
        return Node(parent, name, p.share, home)

    def remember(self, parent: int, name: bytes, a: Attributes, *, trash: int = 0) -> None:
        """Map `a.ino` (the kernel holds a reference on it now: lookup, create, ...)."""
        node = self.child(parent, name, trash=trash)
        if node is not None:
            self.nodes[a.ino] = node

    def list_node(self, pending: dict[int, Node], parent: int, name: bytes, a: Attributes,
                  *, trash: int = 0) -> None:
        """Keep `name`'s node with the listing until the kernel takes the entry (`take`):
        a reply buffer that fills up, or a listing abandoned half way, gives it no reference,
        and only referenced inodes stay in the map (so listings never grow it)."""
        node = self.child(parent, name, trash=trash)
        if node is not None:
            pending[a.ino] = node

    def take(self, pending: dict[int, Node], ino: int) -> None:
        """The kernel took listed entry `ino` (readdirplus): it is mapped now."""
        node = pending.pop(ino, None)
        if node is not None:
            self.nodes[ino] = node

    def forgotten(self, ino: int) -> None:
        self.nodes.pop(ino, None)

    def moved(self, ino: int, parent: int, name: bytes) -> None:
        """`ino` is now entry `name` of `parent` (a rename, or its only other name)."""
        node = self.nodes.get(ino)
        if node is not None:
            node.parent, node.name = parent, name
            if parent == ROOT_INODE:
                share = self.judge.share_named(name)
                node.share = share.name if share else None
