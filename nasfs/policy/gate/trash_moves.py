"""What the gate sends to the trash instead of deleting: the last name of a file on unlink or
when a rename or restore replaces it, and the old content of a file truncated to zero (when
its share keeps overwritten content). The trash service (nasfs.trash) does the moving; this
keeps the gate's node map in step (a trashed inode now lives in its share's `#trash`)."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from nasfs.fs import Attributes, Filesystem
from nasfs.policy.acl import Principal
from nasfs.policy.gate.inodes import FolderNumbers
from nasfs.policy.gate.nodemap import NodeMap
from nasfs.policy.records import ShareRecord

if TYPE_CHECKING:
    from nasfs.trash import Trash, TrashItem


def display(item: TrashItem) -> bytes:
    """An item's name inside `#trash`: its original name and its id, e.g. `a.txt #12`."""
    return item.name + b" #" + str(item.id).encode()


def item_id(display_name: bytes) -> int | None:
    head, sep, tail = display_name.rpartition(b" #")
    return int(tail) if sep and head and tail.isdigit() else None


def last_name(a: Attributes) -> bool:
    """Whether removing one name of `a` throws its content away (so the trash keeps it):
    a non-directory with one link. With more, the other names keep the data, and the
    name simply goes, lowering st_nlink as on any filesystem."""
    return not stat.S_ISDIR(a.mode) and a.nlink <= 1


class TrashMoves:
    def __init__(self, fs: Filesystem, trash: Trash | None, nodes: NodeMap,
                 folders: FolderNumbers) -> None:
        self.fs = fs
        self.trash = trash
        self.nodes = nodes
        self.folders = folders

    def keeps(self, share: ShareRecord | None) -> bool:
        """Whether deletions in `share` go to the trash."""
        return self.trash is not None and share is not None and share.trash_days is not None

    def item(self, item_id: int) -> TrashItem | None:
        return self.trash.repo.get(item_id) if self.trash is not None else None

    def move_in(self, parent: int, name: bytes, share: str | None, path: bytes,
                who: Principal, reason: str, entry: Attributes | None = None) -> TrashItem:
        from nasfs.trash.service import Deleter

        assert self.trash is not None and share is not None
        item = self.trash.move_in(parent, name, share, path, Deleter(who.name, who.uid),
                                  reason, entry)
        node = self.nodes.get(item.ino)
        if node is not None:
            node.parent, node.name, node.trash = self.folders.number(share), display(item), \
                item.id
        return item

    async def keep_overwritten(self, who: Principal, ino: int, share: ShareRecord | None,
                               path: bytes) -> TrashItem | None:
        """Before a truncation to zero: move the old content to the trash (if kept)."""
        if not self.keeps(share) or share is None or not share.keep_overwritten:
            return None
        a = self.fs.getattr(ino)
        if not stat.S_ISREG(a.mode) or a.size == 0:
            return None
        from nasfs.trash.service import Deleter

        assert self.trash is not None
        return await self.trash.keep_content(ino, share.name, path, Deleter(who.name, who.uid))

    def name_gone(self, ino: int, parent: int, name: bytes) -> None:
        """Entry `name` of `parent` no longer names `ino`: if the node was known by it, move
        it to one of the names left (all in the same share: links never cross shares)."""
        node = self.nodes.get(ino)
        if node is None or (node.parent, node.name) != (parent, name):
            return
        for other_parent, other_name in self.fs.names_of(ino, 1):
            node.parent, node.name = other_parent, other_name
