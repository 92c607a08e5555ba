"""Browsing snapshots through the mount: the read-only `#snapshot` folder of every share.

`SHARE/#snapshot/<snapshot name>/...` is SHARE's folder as it was when that snapshot was
taken (docs/snapshots.md, "Browsing through the mount"), answered from
`nasfs.fs.snapshot_view.SnapshotView`. Inode numbers: `#snapshot` folders from
`inodes.SNAPSHOT_FOLDERS`, nodes inside `inodes.encode(snapshot id, inode)`, stable across
calls and remounts. Who may read is `SnapshotRule` (snapshot_rule.py). The snapshot's own
folder (`#snapshot/<name>`) is shown with mode 000 when only the "then" rule refuses, so the
kernel's `default_permissions` refuses to enter it; POSIX modes and owners inside are the
snapshot's.

Every write-type request inside is EACCES (never EROFS), logged. Reads are logged as
`open-read` rows with the path `/#snapshot/<name>/...` inside the share.

Kernel caches: `#snapshot` entries and `#snapshot/<name>` entries (and, in `homes`, the home
folders) have zero entry timeouts like share roots, so a deleted snapshot vanishes at the next
path walk and every walk is judged as the walker. Content below is immutable: its entries and
attributes are cached for `CONTENT_TIMEOUT`; opens, directory opens, readlink and xattr
reads are judged again on every request.
"""

from __future__ import annotations

import dataclasses
import logging
import stat
import time
from typing import TYPE_CHECKING

from nasfs.errors import NasfsError
from nasfs.fs import ROOT_INODE, Attributes, Caller, Filesystem, errors
from nasfs.policy.acl import Principal
from nasfs.policy.gate.decisions import UNRESTRICTED
from nasfs.policy.gate.denials import AccessDenied, Shadowed, SnapshotReadOnly
from nasfs.policy.gate.handles import (
    WRITE_FLAGS,
    Handle,
    Listed,
    SnapshotDirHandle,
    SnapshotFileHandle,
    SnapshotFolderHandle,
)
from nasfs.policy.gate.inodes import SNAPSHOT_FOLDERS, SNAPSHOT_NODES, FolderNumbers, decode, encode
from nasfs.policy.gate.judge import Judge, Where
from nasfs.policy.gate.per_caller import same_for_everyone
from nasfs.policy.gate.snapshot_rule import SnapNode, SnapshotRule, Verdict
from nasfs.policy.gate.timeouts import CONTENT, CONTENT_TIMEOUT, VOLATILE, VOLATILE_TIMEOUT

if TYPE_CHECKING:
    from nasfs.fs.snapshot_view import SnapshotView

log = logging.getLogger(__name__)

SNAPSHOT_NAME = b"#snapshot"
_READABLE = Verdict(UNRESTRICTED, False)  # content inside a snapshot the caller reached


class SnapshotFolders:
    """The `ShareFolder` namespace of `#snapshot` folders and everything below them."""

    name = SNAPSHOT_NAME

    def __init__(self, fs: Filesystem, judge: Judge, started_ns: int) -> None:
        self.fs = fs
        self.judge = judge
        self.numbers = FolderNumbers(SNAPSHOT_FOLDERS, SNAPSHOT_NODES)
        self.rule = SnapshotRule(judge, lambda sid: fs.snapshots.get(sid).policy_state)
        self.nodes: dict[int, SnapNode] = {}
        self._started_ns = started_ns

    # ----------------------------------------------------------------- numbering

    def folder_attrs(self, share: str) -> Attributes:
        t = self._started_ns
        return Attributes(self.numbers.number(share), stat.S_IFDIR | 0o555, 0, 0, 2, 0, 0, t,
                          t, t, t)

    def timeouts(self, ino: int) -> tuple[float, float]:
        """(entry, attribute) timeouts for the kernel."""
        if ino in self.numbers:
            return VOLATILE
        return self._node_timeouts(self.nodes.get(ino))

    def _node_timeouts(self, node: SnapNode | None) -> tuple[float, float]:
        """Timeouts of `node`, mapped or still pending with a listing: a listed entry gets
        what a lookup of it would (asked of the map, a pending one would get zero timeouts,
        and the kernel looked every file of a readdirplus listing up again: one LOOKUP per
        file of a backup's rsync through `#snapshot`)."""
        if node is None or node.top or self._is_home_folder(node):
            return VOLATILE
        return CONTENT

    def negative_timeout(self, parent: int) -> float:
        if parent in self.numbers:
            return VOLATILE_TIMEOUT  # a snapshot taken later must show up
        node = self.nodes.get(parent)
        if node is None or (node.top and self._share_is_homes(node.share)):
            return VOLATILE_TIMEOUT  # others' home folders are misses per caller
        return CONTENT_TIMEOUT

    def _share_is_homes(self, share: str) -> bool:
        record = self.judge.share(share)
        return record is not None and record.homes

    def _is_home_folder(self, node: SnapNode) -> bool:
        parent = self.nodes.get(node.parent)
        return parent is not None and parent.top and node.home is not None

    # ------------------------------------------------------------------- places

    def _view(self, snapshot_id: int) -> SnapshotView:
        # A view is a few fields; every call on it checks that the snapshot still exists.
        return self.fs.snapshots.view(snapshot_id)

    def _where(self, ino: int) -> tuple[str, SnapNode | None]:
        """(share, node) of an inode this namespace owns; NotFound if the kernel's number is
        unknown (fail closed: it only names inodes it looked up through us)."""
        share = self.numbers.share(ino)
        if share is not None:
            return share, None
        node = self.nodes.get(ino)
        if node is None:
            log.warning("snapshot inode %#x is not in the share map", ino)
            raise errors.NotFound("no such entry")
        return node.share, node

    def where(self, ino: int, name: bytes | None = None) -> Where:
        """(share, path inside it) for the log: `/#snapshot/<name>/...`."""
        parts: list[bytes] = [] if name is None else [name]
        cur = ino
        share: str | None = self.numbers.share(ino)
        for _ in range(4096):
            node = self.nodes.get(cur)
            if node is None:
                break
            share = node.share
            parts.append(node.name)
            if node.top:
                break
            cur = node.parent
        return share, b"/" + b"/".join([SNAPSHOT_NAME, *reversed(parts)])

    async def need(self, who: Principal, caller: Caller, ino: int, operation: str,
                   name: bytes | None = None) -> Verdict:
        """The verdict on `ino` if `who` may read it; else logs the denial and raises
        NotFound (shadowed) or EACCES."""
        share, node = self._where(ino)
        sid = node.snapshot if node is not None else None
        verdict = self.rule.judge_at(who, share, sid, node.home if node is not None else None)
        if verdict.missing:
            raise await self.judge.deny(who, caller, operation, self.where(ino, name),
                                        Shadowed, "no such entry")
        if not verdict.decision.can_read:
            raise await self.judge.deny(who, caller, operation, self.where(ino, name),
                                        AccessDenied,
                                        "no read access to this share at that snapshot")
        return verdict

    async def refuse(self, who: Principal, caller: Caller, ino: int, operation: str,
                     name: bytes | None = None) -> NasfsError | None:
        return await self._read_only(who, caller, ino, operation, name)

    async def _read_only(self, who: Principal, caller: Caller, ino: int, operation: str,
                         name: bytes | None = None) -> NasfsError:
        """The error for a write-type request in a snapshot (logged): what a reader would
        get for a name they may not see, else EACCES."""
        await self.need(who, caller, ino, operation, name)
        return await self.judge.deny(who, caller, operation, self.where(ino, name),
                                     SnapshotReadOnly, "snapshots are read-only")

    def blocks(self, a: Attributes) -> int:
        """st_blocks of a node this namespace owns (`a` as it showed it)."""
        node = self.nodes.get(a.ino)
        if node is None or not stat.S_ISREG(a.mode):
            return (a.size + 511) // 512
        view, real = self._view_of(a.ino, node)
        return view.blocks(dataclasses.replace(a, ino=real))

    def _view_of(self, ino: int, node: SnapNode) -> tuple[SnapshotView, int]:
        """The view of `node`'s snapshot and the volume's inode number of kernel `ino`."""
        return self._view(node.snapshot), decode(ino)[1]

    # ------------------------------------------------------------------- lookups

    def _named(self, name: bytes) -> int | None:
        """The id of the snapshot called `name`, if any."""
        for info in self.fs.snapshots.list(sizes=False):
            if info.name.encode("utf-8", "surrogateescape") == name:
                return info.id
        return None

    def _share_folder_at(self, snapshot_id: int, share: str) -> Attributes | None:
        try:
            a = self._view(snapshot_id).lookup(ROOT_INODE, share.encode())
        except errors.NotFound:
            return None
        return a if stat.S_ISDIR(a.mode) else None

    @staticmethod
    def _shown(a: Attributes, verdict: Verdict, node_ino: int) -> Attributes:
        mode = a.mode if verdict.decision.can_read else a.mode & ~0o7777
        return Attributes(node_ino, mode, a.uid, a.gid, a.nlink, a.size, a.rdev, a.atime_ns,
                          a.mtime_ns, a.ctime_ns, a.crtime_ns)

    def _shown_top(self, share: str, a: Attributes, verdict: Verdict,
                   node_ino: int) -> Attributes:
        """`_shown` of a snapshot's share folder (`#snapshot/<name>`): in `homes` its link
        count and times would count and date the home folders the caller may not see, so
        they are shown as the live folder's are (per_caller.py)."""
        shown = self._shown(a, verdict, node_ino)
        return same_for_everyone(shown) if self._share_is_homes(share) else shown

    def _take(self, ino: int, node: SnapNode) -> None:
        """Record `node` under `ino` with one more kernel reference."""
        known = self.nodes.get(ino)
        if known is not None:
            node.refs = known.refs
        node.refs += 1
        self.nodes[ino] = node

    async def lookup(self, parent: int, name: bytes, who: Principal,
                     caller: Caller) -> Attributes | None:
        await self.need(who, caller, parent, "lookup", name)
        share, pnode = self._where(parent)
        if pnode is None:  # in `#snapshot`: a snapshot's name
            sid = self._named(name)
            if sid is None:
                return None
            a = self._share_folder_at(sid, share)
            if a is None:
                return None
            verdict = self.rule.judge_at(who, share, sid, None)
            if verdict.missing:
                return None
            ino = encode(sid, a.ino)
            self._take(ino, SnapNode(parent, name, share, sid, None, True))
            return self._shown_top(share, a, verdict, ino)
        view, real_parent = self._view_of(parent, pnode)
        home = pnode.home
        if pnode.top and self._share_is_homes(share):
            home = name.decode("utf-8", "surrogateescape")
            if self.rule.judge_at(who, share, pnode.snapshot, home).missing:
                return None  # another user's home folder: as if it were not there
        try:
            a = view.lookup(real_parent, name)
        except errors.NotFound:
            return None
        ino = encode(pnode.snapshot, a.ino)
        self._take(ino, SnapNode(parent, name, share, pnode.snapshot, home, False))
        return self._shown(a, _READABLE, ino)

    def forget(self, ino: int, n: int) -> None:
        node = self.nodes.get(ino)
        if node is None:
            return
        node.refs -= n
        if node.refs <= 0:
            del self.nodes[ino]

    def listed(self, h: Handle | None, ino: int) -> None:
        """The kernel took entry `ino` of a listing of `h` (readdirplus): one reference."""
        node = self.nodes.get(ino)
        if node is None and isinstance(h, SnapshotFolderHandle | SnapshotDirHandle):
            node = h.pending.pop(ino, None)
        if node is not None:
            node.refs += 1
            self.nodes[ino] = node

    async def getattr(self, ino: int, who: Principal, caller: Caller) -> Attributes:
        if ino in self.numbers:
            return self.folder_attrs(self._where(ino)[0])
        share, node = self._where(ino)
        assert node is not None
        verdict = self.rule.judge_at(who, share, node.snapshot, node.home)
        if verdict.missing:
            raise await self.judge.deny(who, caller, "getattr", self.where(ino), Shadowed,
                                        "no such entry")
        if not verdict.decision.can_read and not node.top:
            raise await self.judge.deny(who, caller, "getattr", self.where(ino), AccessDenied,
                                        "no read access to this share at that snapshot")
        view, real = self._view_of(ino, node)
        if node.top:
            return self._shown_top(share, view.getattr(real), verdict, ino)
        return self._shown(view.getattr(real), verdict, ino)

    # --------------------------------------------------------------------- files

    async def open(self, ino: int, flags: int, who: Principal, caller: Caller) -> Handle:
        if flags & WRITE_FLAGS:
            raise await self._read_only(who, caller, ino, "open-write")
        verdict = await self.need(who, caller, ino, "open-read")
        share, node = self._where(ino)
        if node is None:
            raise errors.IsADirectory("the snapshot folder is a directory")
        view, real = self._view_of(ino, node)
        a = view.getattr(real)
        if stat.S_ISDIR(a.mode):
            raise errors.IsADirectory("is a directory")
        _, path = self.where(ino)
        return SnapshotFileHandle(ino, who, share, path, verdict.decision.admin, "open-read",
                                  time.time_ns(), caller.pid, view=view, real_ino=real)

    async def readlink(self, ino: int, who: Principal, caller: Caller) -> bytes:
        await self.need(who, caller, ino, "readlink")
        _, node = self._where(ino)
        if node is None:
            raise errors.InvalidArgument("not a symbolic link")
        view, real = self._view_of(ino, node)
        return view.readlink(real)

    async def getxattr(self, ino: int, name: bytes, who: Principal, caller: Caller) -> bytes:
        await self.need(who, caller, ino, "getxattr")
        _, node = self._where(ino)
        if node is None:
            raise errors.NoSuchAttribute("no such attribute")
        view, real = self._view_of(ino, node)
        return view.getxattr(real, name)

    async def listxattr(self, ino: int, who: Principal, caller: Caller) -> list[bytes]:
        await self.need(who, caller, ino, "listxattr")
        _, node = self._where(ino)
        if node is None:
            return []
        view, real = self._view_of(ino, node)
        return view.listxattr(real)

    # --------------------------------------------------------------- directories

    async def opendir(self, ino: int, who: Principal, caller: Caller) -> Handle:
        verdict = await self.need(who, caller, ino, "opendir")
        share, node = self._where(ino)
        _, path = self.where(ino)
        admin = verdict.decision.admin
        if admin:
            await self.judge.log(who, caller, "opendir", (share, path), admin=True)
        if node is None:
            return SnapshotFolderHandle(ino, who, share, path, admin, "opendir",
                                        time.time_ns(), caller.pid, snapshot_share=share)
        view, real = self._view_of(ino, node)
        view.getattr(real)  # NotFound once the snapshot is gone
        return SnapshotDirHandle(ino, who, share, path, admin, "opendir", time.time_ns(),
                                 caller.pid, view=view, real_ino=real)

    def readdir(self, h: Handle, after: int) -> list[Listed]:
        if isinstance(h, SnapshotFolderHandle):
            return self._readdir_folder(h, after)
        assert isinstance(h, SnapshotDirHandle)
        node = self.nodes.get(h.ino)
        if node is None:
            return []
        homes_top = node.top and self._share_is_homes(node.share)
        out: list[Listed] = []
        cursor = after
        while True:
            batch = h.view.readdir(h.real_ino, cursor)
            if not batch:
                return out
            for offset, name, a in batch:
                cursor = offset
                home = node.home
                if homes_top:
                    home = name.decode("utf-8", "surrogateescape")
                    if self.rule.judge_at(h.who, node.share, node.snapshot, home).missing:
                        continue
                ino = encode(node.snapshot, a.ino)
                # Kept with the listing until the kernel takes a reference (`listed`); a
                # plain readdir gives none, and the handle's release then forgets it.
                listed = SnapNode(h.ino, name, node.share, node.snapshot, home, False)
                h.pending[ino] = listed
                out.append(Listed(offset, name, self._shown(a, _READABLE, ino),
                                  self._node_timeouts(listed)))
            if out:
                return out

    def _readdir_folder(self, h: SnapshotFolderHandle, after: int) -> list[Listed]:
        """One entry per snapshot that holds this share's folder and that the caller may
        know of; offsets are snapshot ids (never reused)."""
        share = h.snapshot_share
        out: list[Listed] = []
        infos = sorted(self.fs.snapshots.list(sizes=False), key=lambda i: i.id)
        self.rule.forget_snapshots({i.id for i in infos})
        for info in infos:
            if info.id <= after:
                continue
            a = self._share_folder_at(info.id, share)
            if a is None:
                continue
            verdict = self.rule.judge_at(h.who, share, info.id, None)
            if verdict.missing:
                continue
            name = info.name.encode("utf-8", "surrogateescape")
            ino = encode(info.id, a.ino)
            h.pending[ino] = SnapNode(h.ino, name, share, info.id, None, True)
            out.append(Listed(info.id, name, self._shown_top(share, a, verdict, ino)))
        return out
