"""The `#trash` folder of every share: a virtual, read-only listing of the share's trash items
the caller may see (their own; administrators: all), each named `<name> #<id>`.

An item found here is the live inode itself (nasfs.trash keeps it under the trash's unnamed
folder), mapped read-only (`Node.via_trash`); renaming it out of `#trash` puts it back
(restore). Everything else that would write here is refused (EACCES, logged).
docs/trash.md describes the user's view.
"""

from __future__ import annotations

import stat
import time
from typing import TYPE_CHECKING

from nasfs.errors import NasfsError
from nasfs.fs import ROOT_INODE, Attributes, Caller, Filesystem, errors
from nasfs.policy.acl import Principal
from nasfs.policy.gate.denials import AccessDenied, CrossShare
from nasfs.policy.gate.handles import Handle, Listed, TrashFolderHandle
from nasfs.policy.gate.inodes import FolderNumbers
from nasfs.policy.gate.judge import Judge, Where
from nasfs.policy.gate.live_changes import RENAME_EXCHANGE, LiveChanges
from nasfs.policy.gate.live_rules import LiveRules
from nasfs.policy.gate.logpaths import LivePaths
from nasfs.policy.gate.nodemap import TRASH_NAME, NodeMap
from nasfs.policy.gate.timeouts import VOLATILE, VOLATILE_TIMEOUT
from nasfs.policy.gate.trash_moves import TrashMoves, display, item_id

if TYPE_CHECKING:
    from nasfs.trash import TrashItem


class TrashFolders:
    """The `ShareFolder` namespace of `#trash` folders (numbers `FolderNumbers` hands out)."""

    name = TRASH_NAME

    def __init__(self, fs: Filesystem, judge: Judge, numbers: FolderNumbers, nodes: NodeMap,
                 paths: LivePaths, rules: LiveRules, moves: TrashMoves,
                 changes: LiveChanges, started_ns: int) -> None:
        self.fs = fs
        self.judge = judge
        self.numbers = numbers
        self.nodes = nodes
        self.paths = paths
        self.rules = rules
        self.moves = moves
        self.changes = changes
        self._started_ns = started_ns

    def folder_attrs(self, share: str) -> Attributes:
        return self._attrs(self.numbers.number(share))

    def _attrs(self, ino: int) -> Attributes:
        # Sticky and world-writable so that the kernel lets owners move their own items out
        # (restore by rename); every write into it is refused here (EACCES).
        t = self._started_ns
        return Attributes(ino, stat.S_IFDIR | 0o1777, 0, 0, 2, 0, 0, t, t, t, t)

    def _share(self, ino: int) -> str:
        share = self.numbers.share(ino)
        if share is None:
            raise errors.NotFound(f"inode {ino:#x} is no trash folder of this mount")
        return share

    def where(self, ino: int, name: bytes | None = None) -> Where:
        share = self.numbers.share(ino)
        path = b"/" + TRASH_NAME if name is None else b"/" + TRASH_NAME + b"/" + name
        return share, path

    def timeouts(self, ino: int) -> tuple[float, float]:
        return VOLATILE if self.judge.restrict else self.rules.timeouts(ino)

    def negative_timeout(self, parent: int) -> float:
        return VOLATILE_TIMEOUT

    def blocks(self, a: Attributes) -> int:
        return 0

    def forget(self, ino: int, n: int) -> None:
        pass  # numbered for the life of the mount

    async def refuse(self, who: Principal, caller: Caller, ino: int, operation: str,
                     name: bytes | None = None) -> NasfsError | None:
        return await self.judge.deny(who, caller, operation, self.where(ino, name),
                                     AccessDenied, "the trash folder is read-only")

    # ------------------------------------------------------------------- reading

    def _item(self, vino: int, display_name: bytes, who: Principal) -> TrashItem | None:
        """The item `display_name` names in this `#trash`, if `who` may see it."""
        found = item_id(display_name)
        item = self.moves.item(found) if found is not None else None
        if item is None or item.share != self.numbers.share(vino):
            return None
        if display(item) != display_name or (not who.is_admin and item.uid != who.uid):
            return None
        return item

    def _visible(self, share: str, who: Principal) -> list[TrashItem]:
        trash = self.moves.trash
        return [] if trash is None else trash.items(share, None if who.is_admin else who.uid)

    async def lookup(self, parent: int, name: bytes, who: Principal,
                     caller: Caller) -> Attributes | None:
        place = self.rules.place(who, parent)
        if not place.decision.can_read:
            raise await self.judge.deny(who, caller, "lookup", self.where(parent, name),
                                        AccessDenied, "no read access to this share")
        item = self._item(parent, name, who)
        trash = self.moves.trash
        if item is None or trash is None:
            return None
        from nasfs.trash.service import entry_name

        a = self.fs.lookup(trash.dir, entry_name(item.id), caller)
        if a is None:
            return None
        self.nodes.remember(parent, name, a, trash=item.id)
        return self.rules.shown(who, a)

    async def getattr(self, ino: int, who: Principal, caller: Caller) -> Attributes:
        return self._attrs(ino)

    async def readlink(self, ino: int, who: Principal, caller: Caller) -> bytes:
        raise errors.InvalidArgument("a trash folder is no symbolic link")

    async def getxattr(self, ino: int, name: bytes, who: Principal, caller: Caller) -> bytes:
        raise errors.NoSuchAttribute("no such attribute")

    async def listxattr(self, ino: int, who: Principal, caller: Caller) -> list[bytes]:
        return []

    async def open(self, ino: int, flags: int, who: Principal, caller: Caller) -> Handle:
        raise errors.IsADirectory("a trash folder is a directory")

    async def opendir(self, ino: int, who: Principal, caller: Caller) -> Handle:
        share = self._share(ino)
        place = await self.rules.need(who, caller, ino, False, "opendir")
        where = self.where(ino)
        if place.decision.admin:
            await self.judge.log(who, caller, "opendir", where, admin=True)
        return TrashFolderHandle(ino, who, where[0], where[1], place.decision.admin,
                                 "opendir", time.time_ns(), caller.pid, trash_share=share)

    def readdir(self, h: Handle, after: int) -> list[Listed]:
        assert isinstance(h, TrashFolderHandle)
        out = []
        h.pending.clear()
        for item in self._visible(h.trash_share, h.who):
            if item.id <= after:
                continue
            try:
                a = self.fs.getattr(item.ino)
            except NasfsError:
                continue
            self.nodes.list_node(h.pending, h.ino, display(item), a, trash=item.id)
            out.append(Listed(item.id, display(item), a))
        return out

    def listed(self, h: Handle | None, ino: int) -> None:
        pass  # entries of `#trash` are live inodes: the live tree takes them

    # ------------------------------------------------------------------ restoring

    async def restore(self, vino: int, n1: bytes, p2: int, n2: bytes, flags: int,
                      who: Principal, caller: Caller) -> None:
        """Rename out of `#trash`: put the item back as entry `n2` of live folder `p2`."""
        share = self._share(vino)
        item = self._item(vino, n1, who)
        trash = self.moves.trash
        if item is None or trash is None:
            raise errors.NotFound(f"{n1!r} is not in the trash")
        dst = self.nodes.get(p2)
        await self.judge.require(
            p2 != ROOT_INODE and dst is not None and dst.share == share
            and p2 not in self.numbers, who, caller, "restore", (share, item.path),
            CrossShare, "trash items go back into their own share")
        assert dst is not None
        if flags & RENAME_EXCHANGE:
            raise errors.InvalidArgument("trash items cannot be exchanged")
        place = await self.rules.need_create(who, caller, p2, n2, "restore")
        await self.changes.replace_for_restore(p2, n2, flags, who, caller)
        _, path2 = self.paths.child_path(p2, n2)
        trash.restore_to(item, p2, n2, path2)
        node = self.nodes.get(item.ino)
        if node is not None:
            node.parent, node.name, node.trash, node.home = p2, n2, 0, dst.home
            node.via_trash = False
        await self.judge.log(who, caller, "restore", (share, item.path), second=path2,
                             admin=place.decision.admin, detail=f"trash #{item.id}")
