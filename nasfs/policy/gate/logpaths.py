"""The paths the access log shows for live inodes: (share, path inside the share), rebuilt
from the gate's node map by walking parents up to the share folder. A trashed inode is
shown at the path it was deleted from (its trash item's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nasfs.fs import ROOT_INODE
from nasfs.policy.gate.judge import Where
from nasfs.policy.gate.nodemap import NodeMap

if TYPE_CHECKING:
    from nasfs.trash import TrashItem

_DEPTH_LIMIT = 4096  # a walk never loops, even over a damaged map


class LivePaths:
    def __init__(self, nodes: NodeMap, trash_item: Callable[[int], TrashItem | None]) -> None:
        self.nodes = nodes
        self._trash_item = trash_item  # a trash item by id (None: gone, or no trash)

    def path(self, ino: int) -> Where:
        """(share, path inside it) of a known live inode, for the log."""
        parts: list[bytes] = []
        share: str | None = None
        cur = ino
        for _ in range(_DEPTH_LIMIT):
            node = self.nodes.nodes.get(cur)
            if node is None or cur == ROOT_INODE:
                break
            if node.trash:
                item = self._trash_item(node.trash)
                if item is not None:
                    return item.share, item.path
            if node.parent == ROOT_INODE:
                share = node.share
                break
            parts.append(node.name)
            cur = node.parent
        return share, b"/" + b"/".join(reversed(parts))

    def child_path(self, parent: int, name: bytes) -> Where:
        """(share, path inside it) of entry `name` of live folder `parent`, for the log."""
        if parent == ROOT_INODE:
            s = self.nodes.judge.share_named(name)
            return (s.name if s else None), b"/"
        share, path = self.path(parent)
        return share, (path.rstrip(b"/") + b"/" + name)
