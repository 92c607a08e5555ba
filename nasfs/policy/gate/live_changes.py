"""Changes to the live tree through the gate: creating, removing, renaming, setattr and
xattr writes, each judged by `LiveRules`, logged, and sent to the trash instead of deleted
where the share keeps a trash (trash_moves.py)."""

from __future__ import annotations

import stat
import time

from nasfs.fs import ROOT_INODE, AttrChanges, Attributes, Caller, Filesystem, errors
from nasfs.policy.acl import Principal
from nasfs.policy.gate.denials import AccessDenied, CrossShare, ShareBusy
from nasfs.policy.gate.handles import FileHandle
from nasfs.policy.gate.judge import Judge
from nasfs.policy.gate.live_rules import LiveRules, Place
from nasfs.policy.gate.logpaths import LivePaths
from nasfs.policy.gate.nodemap import NodeMap
from nasfs.policy.gate.trash_moves import TrashMoves, last_name

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


class LiveChanges:
    def __init__(self, fs: Filesystem, judge: Judge, nodes: NodeMap, paths: LivePaths,
                 rules: LiveRules, moves: TrashMoves) -> None:
        self.fs = fs
        self.judge = judge
        self.restrict = judge.restrict
        self.nodes = nodes
        self.paths = paths
        self.rules = rules
        self.moves = moves

    # ---------------------------------------------------------------- attributes

    async def setattr(self, ino: int, ch: AttrChanges, who: Principal,
                      caller: Caller) -> Attributes:
        operation = ("truncate" if ch.size is not None else "chmod" if ch.mode is not None
                     else "chown" if ch.uid is not None or ch.gid is not None else "utimens")
        place = await self.rules.need(who, caller, ino, True, operation)
        detail = ",".join(n for n, v in (("size", ch.size), ("mode", ch.mode), ("uid", ch.uid),
                                         ("gid", ch.gid), ("atime", ch.atime_ns),
                                         ("mtime", ch.mtime_ns)) if v is not None)
        where = self.paths.path(ino)
        if ch.size == 0:
            item = await self.moves.keep_overwritten(who, ino, place.share, where[1])
            if item is not None:
                detail += f"; old content to trash #{item.id}"
        a = await self.fs.setattr(ino, ch, caller)
        await self.judge.log(who, caller, operation, self.paths.path(ino),
                             admin=place.decision.admin, detail=detail)
        return self.rules.shown(who, a)

    async def setxattr(self, ino: int, name: bytes, value: bytes, who: Principal,
                       caller: Caller) -> None:
        place = await self.rules.need(who, caller, ino, True, "setxattr")
        self.fs.setxattr(ino, name, value, caller)
        await self.judge.log(who, caller, "setxattr", self.paths.path(ino),
                             detail=name.decode("utf-8", "replace"), admin=place.decision.admin)

    async def removexattr(self, ino: int, name: bytes, who: Principal, caller: Caller) -> None:
        place = await self.rules.need(who, caller, ino, True, "removexattr")
        self.fs.removexattr(ino, name, caller)
        await self.judge.log(who, caller, "removexattr", self.paths.path(ino),
                             detail=name.decode("utf-8", "replace"), admin=place.decision.admin)

    # ------------------------------------------------------------------ creating

    async def _created(self, who: Principal, caller: Caller, operation: str, parent: int,
                       name: bytes, a: Attributes, place: Place,
                       second: bytes | None = None) -> Attributes:
        self.nodes.remember(parent, name, a)
        await self.judge.log(who, caller, operation, self.paths.child_path(parent, name),
                             admin=place.decision.admin, second=second)
        return a

    async def mknod(self, parent: int, name: bytes, mode: int, rdev: int, who: Principal,
                    caller: Caller) -> Attributes:
        place = await self.rules.need_create(who, caller, parent, name, "mknod")
        if place.share is not None and place.share.create_mode is not None:
            mode = stat.S_IFMT(mode) | place.share.create_mode
        a = self.fs.mknod(parent, name, mode, rdev, self.rules.creator(caller, place))
        return await self._created(who, caller, "mknod", parent, name, a, place)

    async def mkdir(self, parent: int, name: bytes, mode: int, who: Principal,
                    caller: Caller) -> Attributes:
        place = await self.rules.need_create(who, caller, parent, name, "mkdir")
        if place.share is not None and place.share.dir_mode is not None:
            mode = place.share.dir_mode
        a = self.fs.mkdir(parent, name, mode, self.rules.creator(caller, place))
        return await self._created(who, caller, "mkdir", parent, name, a, place)

    async def symlink(self, parent: int, name: bytes, target: bytes, who: Principal,
                      caller: Caller) -> Attributes:
        place = await self.rules.need_create(who, caller, parent, name, "symlink")
        a = self.fs.symlink(parent, name, target, self.rules.creator(caller, place))
        return await self._created(who, caller, "symlink", parent, name, a, place,
                                   second=target)

    async def create(self, parent: int, name: bytes, mode: int, who: Principal,
                     caller: Caller) -> tuple[FileHandle, Attributes]:
        place = await self.rules.need_create(who, caller, parent, name, "create")
        if place.share is not None and place.share.create_mode is not None:
            mode = place.share.create_mode
        a = self.fs.create(parent, name, mode, self.rules.creator(caller, place))
        self.nodes.remember(parent, name, a)
        share, path = self.paths.child_path(parent, name)
        return FileHandle(a.ino, who, share, path, place.decision.admin, "create",
                          time.time_ns(), caller.pid), a

    async def link(self, ino: int, parent: int, name: bytes, who: Principal,
                   caller: Caller) -> Attributes:
        if self.restrict:
            src, dst = self.nodes.get(ino), self.nodes.get(parent)
            where = self.rules.where(parent, name)
            await self.judge.require(not self.rules.read_only_item(src), who, caller, "link",
                                     where, AccessDenied,
                                     "items in the trash cannot be linked")
            await self.judge.require(self.rules.same_area(src, parent, dst), who, caller,
                                     "link", where, CrossShare,
                                     "hard links cannot cross shares")
        await self.rules.need(who, caller, ino, True, "link")
        place = await self.rules.need_create(who, caller, parent, name, "link")
        a = self.fs.link(ino, parent, name, caller)
        return await self._created(who, caller, "link", parent, name, a, place,
                                   second=self.paths.path(ino)[1])

    # ------------------------------------------------------------------ removing

    async def unlink(self, parent: int, name: bytes, who: Principal, caller: Caller) -> None:
        place = await self.rules.need(who, caller, parent, True, "delete", name)
        await self.rules.keep_reserved(who, caller, parent, name, "delete")
        share, path = self.paths.child_path(parent, name)
        if parent == ROOT_INODE and self.restrict:
            await self.judge.require(who.is_admin, who, caller, "delete", (share, path),
                                     AccessDenied, "only administrators change the top level")
        a = self.fs.peek(parent, name)
        if self.moves.keeps(place.share) and a is not None and last_name(a):
            item = self.moves.move_in(parent, name, share, path, who, "unlink", a)
            await self.judge.log(who, caller, "delete", (share, path),
                                 admin=place.decision.admin, nbytes=a.size,
                                 detail=f"to trash #{item.id}")
            return
        self.fs.unlink(parent, name, caller)
        detail = "deleted" if self.moves.trash is not None else None
        if a is not None and not stat.S_ISDIR(a.mode):
            self.moves.name_gone(a.ino, parent, name)
            if self.moves.keeps(place.share):
                detail = "one name of several removed (the others keep the data)"
        await self.judge.log(who, caller, "delete", (share, path), admin=place.decision.admin,
                             detail=detail)

    async def rmdir(self, parent: int, name: bytes, who: Principal, caller: Caller) -> None:
        place = await self.rules.need(who, caller, parent, True, "rmdir", name)
        await self.rules.keep_reserved(who, caller, parent, name, "rmdir")
        where = self.paths.child_path(parent, name)
        if parent == ROOT_INODE and self.restrict:
            await self.judge.require(who.is_admin, who, caller, "rmdir", where, AccessDenied,
                                     "only administrators change the top level")
            await self.judge.require(
                self.judge.share_named(name) is None, who, caller, "rmdir", where, ShareBusy,
                "a share's folder goes away only after `nasfs share del`")
        self.fs.rmdir(parent, name, caller)
        await self.judge.log(who, caller, "rmdir", where, admin=place.decision.admin)

    # -------------------------------------------------------------------- rename

    async def rename(self, p1: int, n1: bytes, p2: int, n2: bytes, flags: int, who: Principal,
                     caller: Caller) -> None:
        where1 = self.paths.child_path(p1, n1)
        share2, path2 = self.rules.where(p2, n2)
        if self.restrict:
            await self.judge.require(
                (p1 != ROOT_INODE and p2 != ROOT_INODE) or who.is_admin, who, caller,
                "rename", where1, AccessDenied, "only administrators change the top level")
            await self.judge.require(not self.rules.is_trash_folder(p2), who, caller, "rename",
                                     (share2, path2), AccessDenied,
                                     "the trash folder is read-only")
            await self.rules.keep_reserved(who, caller, p1, n1, "rename")
            src_a = self.fs.peek(p1, n1)
            src = self.nodes.get(src_a.ino) if src_a is not None else None
            if src is None and src_a is not None:
                src = self.nodes.child(p1, n1)  # judged, not kept: the kernel holds no reference
            await self.judge.require(
                src is None or self.rules.same_area(src, p2, self.nodes.get(p2)), who, caller,
                "rename", where1, CrossShare, "moves between shares are copies")
            await self.judge.require(
                p1 != ROOT_INODE or not (self.judge.share_named(n1)
                                         or self.judge.share_named(n2)),
                who, caller, "rename", where1, ShareBusy,
                "share folders are renamed with the share, not with mv")
        place1 = await self.rules.need(who, caller, p1, True, "rename", n1)
        await self.rules.need_create(who, caller, p2, n2, "rename")
        dst = self.fs.peek(p2, n2)
        src_attrs = self.fs.peek(p1, n1)
        detail = None
        replaced = (dst is not None and src_attrs is not None
                    and not flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)
                    and dst.ino != src_attrs.ino and not stat.S_ISDIR(dst.mode)
                    and not stat.S_ISDIR(src_attrs.mode))
        if replaced and dst is not None and last_name(dst) and self.moves.keeps(place1.share):
            item = self.moves.move_in(p2, n2, share2, path2, who, "replaced")
            detail = f"replaced file to trash #{item.id}"
        self.fs.rename(p1, n1, p2, n2, flags, caller)
        if replaced and dst is not None and detail is None:
            self.moves.name_gone(dst.ino, p2, n2)
        if src_attrs is not None:
            self.nodes.moved(src_attrs.ino, p2, n2)
            if flags & RENAME_EXCHANGE and dst is not None:
                self.nodes.moved(dst.ino, p1, n1)
        await self.judge.log(who, caller, "rename", where1, second=path2, detail=detail,
                             admin=place1.decision.admin)

    async def replace_for_restore(self, p2: int, n2: bytes, flags: int, who: Principal,
                                  caller: Caller) -> None:
        """Make room at entry `n2` of `p2` for a trash item put back by rename: a file there
        goes to the trash in its turn (or loses this name, if it has others)."""
        existing = self.fs.peek(p2, n2)
        if existing is None:
            return
        if flags & RENAME_NOREPLACE:
            raise errors.AlreadyExists(f"{n2!r} already exists")
        if stat.S_ISDIR(existing.mode):
            raise errors.IsADirectory(f"{n2!r} is a directory")
        share2, path2 = self.paths.child_path(p2, n2)
        if last_name(existing):
            self.moves.move_in(p2, n2, share2, path2, who, "replaced")
        else:  # its other names keep the data: this name simply goes
            self.fs.unlink(p2, n2, caller)
            self.moves.name_gone(existing.ino, p2, n2)
