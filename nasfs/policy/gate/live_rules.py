"""The live tree's rules: which share (and home folder) an inode is in, what the caller may
do there, what they may see of it, and the refusals (each logged through the judge).

Checks (docs/policy.md, "The FUSE gate"): read-type requests need read, write-type need
read-write (EACCES); top-level creation, rename and delete are for administrators; a hidden
share, a home folder of someone else and a top-level folder that is no share are, for
callers without access, answered as missing names; trash items are read-only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

from nasfs.fs import ROOT_INODE, Attributes, Caller
from nasfs.policy.acl import Access, Decision, Principal
from nasfs.policy.gate.decisions import ADMIN_ONLY, NOTHING, UNRESTRICTED
from nasfs.policy.gate.denials import AccessDenied, Shadowed
from nasfs.policy.gate.judge import Judge, Where
from nasfs.policy.gate.nodemap import Node, NodeMap
from nasfs.policy.gate.per_caller import same_for_everyone
from nasfs.policy.gate.timeouts import ENTRY_TIMEOUT, ORDINARY, VOLATILE, VOLATILE_TIMEOUT
from nasfs.policy.gate.trash_moves import TrashMoves
from nasfs.policy.records import ShareRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Place:
    """Where a request lands for its caller: the share, the node, the caller's decision."""

    share: ShareRecord | None
    node: Node | None
    decision: Decision


class LiveRules:
    def __init__(self, judge: Judge, nodes: NodeMap, moves: TrashMoves,
                 reserved: Collection[bytes], where: Callable[[int, bytes | None], Where],
                 is_trash_folder: Callable[[int], bool]) -> None:
        self.judge = judge
        self.restrict = judge.restrict
        self.nodes = nodes
        self.moves = moves
        self.reserved = reserved  # the virtual folders' names in every share folder
        self.where = where  # (share, path) of any inode or entry, for the log
        self.is_trash_folder = is_trash_folder

    # -------------------------------------------------------------------- places

    def place(self, who: Principal, ino: int) -> Place:
        """The share, node and decision for `who` on inode `ino` (the root: read only)."""
        if not self.restrict:
            return Place(None, self.nodes.get(ino), UNRESTRICTED)
        if ino == ROOT_INODE:
            return Place(None, None, Decision(Access.RW if who.is_admin else Access.RO, False))
        tshare = self.nodes.trash_folders.share(ino)
        node = self.nodes.get(ino)
        name = tshare if tshare is not None else (node.share if node else None)
        if node is None and tshare is None:
            # The kernel only names inodes it looked up through us; fail closed anyway.
            log.warning("inode %d is not in the share map", ino)
        share = self.judge.share(name) if name is not None else None
        if share is None:
            return Place(None, node, ADMIN_ONLY if who.is_admin else NOTHING)
        return Place(share, node, self.judge.decide(who, share, node.home if node else None))

    def shadowed(self, who: Principal, place: Place) -> bool:
        """Whether `who` must not even learn that this inode's top folder exists."""
        if not self.restrict or who.is_admin or place.node is None:
            return False
        if place.share is None:
            return True  # top-level folders that are no share: administrators only
        if place.share.homes and place.node.home is not None:
            return place.node.home != who.name
        return place.share.hidden and not place.decision.can_read

    def read_only_item(self, node: Node | None) -> bool:
        """Whether `node` was reached through `#trash` and is still a trash item (restored
        through the control socket, it is an ordinary file again before any new lookup)."""
        return (node is not None and node.via_trash
                and self.moves.item(node.trash) is not None)

    def top(self, node: Node | None) -> bool:
        """Share folders and home folders: shown per caller."""
        return node is not None and (node.parent == ROOT_INODE or (
            node.home is not None and self.nodes.is_homes_root(node.parent)))

    # ------------------------------------------------------------------ checking

    async def need(self, who: Principal, caller: Caller, ino: int, write: bool,
                   operation: str, name: bytes | None = None) -> Place:
        """The place of `ino` if `who` may read (or write) there; else logs and raises."""
        place = self.place(who, ino)
        if not self.restrict:
            return place
        if self.shadowed(who, place):
            raise await self.judge.deny(who, caller, operation, self.where(ino, name), Shadowed,
                                        "no such entry")
        if write and (self.is_trash_folder(ino) or self.read_only_item(place.node)):
            raise await self.judge.deny(who, caller, operation, self.where(ino, name),
                                        AccessDenied, "the trash folder is read-only")
        if not (place.decision.can_write if write else place.decision.can_read):
            raise await self.judge.deny(who, caller, operation, self.where(ino, name),
                                        AccessDenied, "access denied by the share's ACL")
        return place

    async def need_create(self, who: Principal, caller: Caller, parent: int, name: bytes,
                          operation: str) -> Place:
        place = await self.need(who, caller, parent, True, operation, name)
        if not self.restrict:
            return place
        where = self.where(parent, name)
        await self.judge.require(parent != ROOT_INODE or who.is_admin, who, caller, operation,
                                 where, AccessDenied,
                                 "only administrators create top-level folders (shares)")
        if self.nodes.is_share_root(parent):
            await self.judge.require(name not in self.reserved, who, caller, operation, where,
                                     AccessDenied, f"{name!r} is reserved")
            await self.judge.require(
                place.share is None or not place.share.homes or who.is_admin, who, caller,
                operation, where, AccessDenied, "home folders are made by the system")
        return place

    async def keep_reserved(self, who: Principal, caller: Caller, parent: int, name: bytes,
                            operation: str) -> None:
        """`#trash` and `#snapshot` in a share folder are not removed or renamed (EACCES)."""
        if self.restrict and name in self.reserved and self.nodes.is_share_root(parent):
            raise await self.judge.deny(who, caller, operation, self.where(parent, name),
                                        AccessDenied, f"{name!r} is part of the share")

    def same_area(self, src: Node | None, dst_parent: int, dst: Node | None) -> bool:
        """Whether an inode at `src` may move or link into directory `dst_parent`."""
        if dst_parent == ROOT_INODE:
            return src is not None and src.parent == ROOT_INODE
        if src is None or dst is None:
            return False
        if src.parent == ROOT_INODE:
            return False  # a share's own folder never moves into a share
        dst_home = dst.home
        if dst_home is None and self.nodes.is_homes_root(dst_parent):
            dst_home = src.home  # a move into the homes root is refused as a create
        return src.share == dst.share and src.home == dst_home

    def creator(self, caller: Caller, place: Place) -> Caller:
        """The caller new entries are made as: `force_group` sets their group."""
        share = place.share
        if share is None or share.force_group is None or self.judge.policy is None:
            return caller
        group = self.judge.policy.snapshot.groups.get(share.force_group)
        return caller if group is None else dataclasses.replace(caller, gid=group.gid)

    # ---------------------------------------------------------------- attributes

    def shown(self, who: Principal, a: Attributes, place: Place | None = None) -> Attributes:
        """`a` as `who` may see it: share roots and home folders carry only the permission
        bits the caller may use, so the kernel refuses the rest; directories whose listing
        differs per caller (the root, a homes share's folder) report nlink 1 ('not counted')
        and their birth time as every time, which hides hidden subfolders (per_caller.py).
        An item reached through `#trash` counts its `#trash` name as a link (nlink 1, not
        0): programs such as smbd take a file without links for a deleted one and will not
        open it (new links to it are refused by the gate all the same)."""
        if not self.restrict:
            return a
        if a.ino == ROOT_INODE:
            return same_for_everyone(a)
        node = self.nodes.get(a.ino)
        if node is None:
            return a
        if a.nlink == 0 and self.read_only_item(node):
            return dataclasses.replace(a, nlink=1)
        top = node.parent == ROOT_INODE
        if not (top or (node.home is not None and self.nodes.is_homes_root(node.parent))):
            return a
        place = place or self.place(who, a.ino)
        mode = a.mode
        if not place.decision.can_read:
            mode &= ~0o777
        elif not place.decision.can_write:
            mode &= ~0o222
        if top and place.share is not None and place.share.homes:
            a = same_for_everyone(a)
        return dataclasses.replace(a, mode=mode)

    def volatile(self, ino: int) -> bool:
        """Whether the kernel must not cache this entry (its visibility depends on who)."""
        if not self.restrict or ino == ROOT_INODE:
            return False  # the root is looked up by no one; its attributes are the same for all
        return self.volatile_node(self.nodes.get(ino))

    def volatile_node(self, node: Node | None) -> bool:
        """`volatile` of an inode at `node` (None: not in the map, so fail closed)."""
        if node is None:
            return True
        return node.parent == ROOT_INODE or node.via_trash or (
            node.home is not None and self.nodes.is_homes_root(node.parent))

    def timeouts(self, ino: int) -> tuple[float, float]:
        return VOLATILE if self.volatile(ino) else ORDINARY

    def listing_timeouts(self, node: Node | None) -> tuple[float, float]:
        """Timeouts of a listed entry whose node is still pending (not in the map until
        the kernel takes the entry): the ones a lookup would give once it is mapped. Asked
        of the map instead, every readdirplus entry would get zero timeouts, and the
        kernel would look each one up again right after the listing."""
        if not self.restrict:
            return ORDINARY
        return VOLATILE if self.volatile_node(node) else ORDINARY

    def negative_timeout(self, parent: int) -> float:
        volatile = self.restrict and (parent == ROOT_INODE or self.nodes.is_homes_root(parent))
        return VOLATILE_TIMEOUT if volatile else ENTRY_TIMEOUT
