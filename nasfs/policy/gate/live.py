"""The live tree as the gate serves it: lookups, attributes, opens and listings of the
volume's own inodes (trash items included), judged by `LiveRules`. Changes (create, remove,
rename, setattr, xattr writes) are `LiveChanges` (live_changes.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nasfs.errors import NasfsError
from nasfs.fs import ROOT_INODE, Attributes, Caller, Filesystem, errors
from nasfs.policy.acl import Principal
from nasfs.policy.gate.denials import AccessDenied, Shadowed
from nasfs.policy.gate.handles import WRITE_FLAGS, DirHandle, FileHandle, Handle, Listed
from nasfs.policy.gate.homes import ensure_home
from nasfs.policy.gate.judge import Judge, Where
from nasfs.policy.gate.live_rules import LiveRules
from nasfs.policy.gate.logpaths import LivePaths
from nasfs.policy.gate.nodemap import Node, NodeMap
from nasfs.policy.gate.real_names import real_name
from nasfs.policy.gate.root_answers import RootAnswers
from nasfs.policy.gate.timeouts import ORDINARY
from nasfs.policy.gate.trash_moves import TrashMoves

if TYPE_CHECKING:
    from nasfs.policy.gate.namespace import ShareFolder


class LiveTree:
    """The `Namespace` of the volume's inodes (numbers below inodes.VIRTUAL_BASE)."""

    def __init__(self, fs: Filesystem, judge: Judge, nodes: NodeMap, paths: LivePaths,
                 rules: LiveRules, moves: TrashMoves,
                 share_folders: Sequence[ShareFolder]) -> None:
        self.fs = fs
        self.judge = judge
        self.restrict = judge.restrict
        self.nodes = nodes
        self.paths = paths
        self.rules = rules
        self.moves = moves
        # In every share folder, before its real entries (readdir offsets 1, 2, ...).
        self.share_folders = {f.name: f for f in share_folders}
        self.root_answers = RootAnswers(fs, judge)

    # ------------------------------------------------------------ kernel caches

    def where(self, ino: int, name: bytes | None = None) -> Where:
        return self.paths.path(ino) if name is None else self.paths.child_path(ino, name)

    def timeouts(self, ino: int) -> tuple[float, float]:
        return self.rules.timeouts(ino)

    def negative_timeout(self, parent: int) -> float:
        return self.rules.negative_timeout(parent)

    def blocks(self, a: Attributes) -> int:
        return self.fs.blocks(a)

    def forget(self, ino: int, n: int) -> None:
        self.fs.forget(ino, n)
        if self.fs.lookup_count(ino) == 0:
            self.nodes.forgotten(ino)

    async def refuse(self, who: Principal, caller: Caller, ino: int, operation: str,
                     name: bytes | None = None) -> NasfsError | None:
        return None  # the live tree takes changes (LiveChanges judges them)

    # ------------------------------------------------------------------- lookups

    async def lookup(self, parent: int, name: bytes, who: Principal,
                     caller: Caller) -> Attributes | None:
        if parent == ROOT_INODE:
            # Every path walk asks for its share folder again (zero entry timeout): answer
            # from memory what the full path below answered, if nothing changed since.
            known = self.root_answers.get(who, name)
            if known is not None:
                self.fs.remember(known.ino)  # the reply gives the kernel a reference
                if self.nodes.get(known.ino) is None:
                    self.nodes.remember(parent, name, known)
                return known
            began = self.root_answers.begin()
            shown = await self._lookup(parent, name, who, caller)
            if shown is not None:
                self.root_answers.put(who, name, shown, began)
            return shown
        return await self._lookup(parent, name, who, caller)

    async def _lookup(self, parent: int, name: bytes, who: Principal,
                      caller: Caller) -> Attributes | None:
        place = self.rules.place(who, parent)
        if parent == ROOT_INODE and self.restrict and not who.is_admin:
            share = self.judge.share_named(name)
            if share is None:
                self.fs.lookup(parent, name, caller)  # the same checks as for any name
                return None
            if share.hidden and not self.judge.decide(who, share, None).can_read:
                await self.judge.log(who, caller, "lookup", (share.name, b"/"), result="ENOENT")
                self.fs.lookup(parent, name, caller)  # same work as a miss, same errors
                return None
        elif parent != ROOT_INODE:
            if self.rules.shadowed(who, place):
                raise await self.judge.deny(who, caller, "lookup", self.where(parent, name),
                                            Shadowed, "no such entry")
            if not place.decision.can_read:
                raise await self.judge.deny(who, caller, "lookup", self.where(parent, name),
                                            AccessDenied, "no read access to this share")
            share_root = self.restrict and self.nodes.is_share_root(parent)
            if share_root and place.share is not None:
                folder = self.share_folders.get(name)
                if folder is not None:
                    return folder.folder_attrs(place.share.name)
                if place.share.homes and not who.is_admin:
                    if name != (who.name or "").encode():
                        self.fs.lookup(parent, name, caller)
                        return None
                    if who.name is not None:
                        ensure_home(self.fs, parent, who)
        a = self.fs.lookup(parent, name, caller)
        if a is None:
            return None
        self.nodes.remember(parent, name, a)
        return self.rules.shown(who, a)

    async def getattr(self, ino: int, who: Principal, caller: Caller) -> Attributes:
        a = self.fs.getattr(ino)
        if not self.restrict:
            return a
        place = self.rules.place(who, ino)
        if self.rules.shadowed(who, place):
            raise await self.judge.deny(who, caller, "getattr", self.where(ino), Shadowed,
                                        "no such entry")
        if ino != ROOT_INODE and not self.rules.top(place.node) and not place.decision.can_read:
            raise await self.judge.deny(who, caller, "getattr", self.where(ino), AccessDenied,
                                        "no read access to this share")
        return self.rules.shown(who, a, place)

    async def readlink(self, ino: int, who: Principal, caller: Caller) -> bytes:
        await self.rules.need(who, caller, ino, False, "readlink")
        return self.fs.readlink(ino)

    async def getxattr(self, ino: int, name: bytes, who: Principal, caller: Caller) -> bytes:
        await self.rules.need(who, caller, ino, False, "getxattr")
        return self.fs.getxattr(ino, name)

    async def real_name(self, parent: int, wanted: bytes, who: Principal,
                        caller: Caller) -> bytes:
        """The entry of folder `parent` that `wanted` names in any case, as the caller
        would find it by lookup (nasfs.policy.gate.real_names); NotFound if none."""
        place = await self.rules.need(who, caller, parent, False, "getxattr")
        names = self.fs.entry_names(parent)
        if self.restrict and self.nodes.is_share_root(parent) and place.share is not None:
            if place.share.homes and not who.is_admin:
                own = (who.name or "").encode()
                names = [n for n in names if n == own]  # other homes are missing names
            names = [*self.share_folders, *names]
        found = real_name(names, wanted)
        if found is None:
            raise errors.NotFound(f"no entry {wanted!r} in any case in inode {parent}")
        return found

    async def listxattr(self, ino: int, who: Principal, caller: Caller) -> list[bytes]:
        await self.rules.need(who, caller, ino, False, "listxattr")
        return self.fs.listxattr(ino)

    # --------------------------------------------------------------------- files

    async def open(self, ino: int, flags: int, who: Principal, caller: Caller) -> Handle:
        writing = bool(flags & WRITE_FLAGS)
        operation = "open-write" if writing else "open-read"
        place = await self.rules.need(who, caller, ino, writing, operation)
        share, path = self.paths.path(ino)
        detail = None
        if flags & os.O_TRUNC and (flags & os.O_ACCMODE) != os.O_RDONLY:
            # What the filesystem's open is about to cut off (it truncates only files
            # opened for writing) goes to the trash first, if the share keeps it.
            item = await self.moves.keep_overwritten(who, ino, place.share, path)
            if item is not None:
                detail = f"old content to trash #{item.id}"
        await self.fs.open_file(ino, flags, caller)
        if detail is not None:
            await self.judge.log(who, caller, "truncate", (share, path), detail=detail,
                                 admin=place.decision.admin)
        return FileHandle(ino, who, share, path, place.decision.admin, operation,
                          time.time_ns(), caller.pid)

    # --------------------------------------------------------------- directories

    async def opendir(self, ino: int, who: Principal, caller: Caller) -> Handle:
        place = await self.rules.need(who, caller, ino, False, "opendir")
        self.fs.opendir(ino)
        share, path = self.paths.path(ino)
        if (self.restrict and place.share is not None and place.share.homes
                and self.nodes.is_share_root(ino) and not who.is_guest and not who.is_admin
                and who.name):
            ensure_home(self.fs, ino, who)
        if place.decision.admin:
            await self.judge.log(who, caller, "opendir", (share, path), admin=True)
        return DirHandle(ino, who, share, path, place.decision.admin, "opendir",
                         time.time_ns(), caller.pid)

    def readdir(self, h: Handle, after: int) -> list[Listed]:
        """The next entries after offset `after` that the handle's owner may see."""
        assert isinstance(h, DirHandle)
        # The kernel resumes after the last entry it took, so untaken ones are listed again.
        h.pending.clear()
        node = self.nodes.get(h.ino)
        if node is not None and h.ino != ROOT_INODE and node.parent != ROOT_INODE:
            return self._readdir_inside(h, after, node)
        share_root = self.restrict and self.nodes.is_share_root(h.ino)
        out: list[Listed] = []
        shift = 0
        if share_root:
            # Offsets 1, 2, ... are the virtual folders; real entries are shifted behind.
            shift = len(self.share_folders)
            share = self.nodes.nodes[h.ino].share
            if share is not None:
                for offset, folder in enumerate(self.share_folders.values(), 1):
                    if after < offset:
                        out.append(Listed(offset, folder.name, folder.folder_attrs(share)))
        place = self.rules.place(h.who, h.ino)
        homes_root = share_root and place.share is not None and place.share.homes
        cursor = max(after - shift, 0)
        while True:
            batch = self.fs.readdir_plus(h.ino, cursor)
            if not batch:
                return out
            for entry_id, name, a, blocks in batch:
                cursor = entry_id
                if self.restrict and not h.who.is_admin:
                    if h.ino == ROOT_INODE and not self._root_visible(h.who, name):
                        continue
                    if homes_root and name != (h.who.name or "").encode():
                        continue
                self.nodes.list_node(h.pending, h.ino, name, a)
                out.append(Listed(entry_id + shift, name, self.rules.shown(h.who, a),
                                  self.rules.listing_timeouts(h.pending.get(a.ino)), blocks))
            if out:
                return out

    def _readdir_inside(self, h: DirHandle, after: int, folder: Node) -> list[Listed]:
        """`readdir` of a folder below a share folder (not a share or home folder itself,
        whose entries are per caller): every caller who may open it sees every entry, each
        entry's node is the folder's with the entry's name, its timeouts are the ordinary
        ones and its attributes are shown as stored. So nothing is decided per entry, and
        an entry whose inode the map already holds at that very place (a folder listed
        again, as smbd does before every create) needs no pending node either."""
        nodes = self.nodes.nodes
        pending = h.pending
        parent = h.ino
        share, home = folder.share, folder.home
        out: list[Listed] = []
        cursor = after
        while not out:
            batch = self.fs.readdir_plus(parent, cursor)
            if not batch:
                break
            cursor = batch[-1][0]
            for entry_id, name, a, blocks in batch:
                known = nodes.get(a.ino)
                if (known is None or known.parent != parent or known.name != name
                        or known.share != share or known.home != home or known.trash
                        or known.via_trash):
                    pending[a.ino] = Node(parent, name, share, home)
                    if known is not None:
                        # Mapped elsewhere too (another name of it): shown as from there.
                        a = self.rules.shown(h.who, a)
                out.append(Listed(entry_id, name, a, ORDINARY, blocks))
        return out

    def _root_visible(self, who: Principal, name: bytes) -> bool:
        share = self.judge.share_named(name)
        if share is None:
            return False
        return not share.hidden or self.judge.decide(who, share, None).can_read

    def listed(self, h: Handle | None, ino: int) -> None:
        self.fs.remember(ino)
        pending = getattr(h, "pending", None)
        if pending:
            self.nodes.take(pending, ino)

    def listed_many(self, h: Handle | None, inos: Sequence[int]) -> None:
        """`listed` of each of `inos`, in one pass over the filesystem's reference counts."""
        self.fs.remember_many(inos)
        pending = getattr(h, "pending", None)
        if pending:
            take = self.nodes.take
            for ino in inos:
                take(pending, ino)
