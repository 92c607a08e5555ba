"""Browsing snapshots through the mount: the read-only `#snapshot` folder of every share.

`SHARE/#snapshot/<snapshot name>/...` is SHARE's folder as it was when that snapshot was
taken (docs/snapshots.md, "Browsing through the mount"). The gate (`nasfs.policy.gate`) hands
every request that names a `#snapshot` folder or a node below one to the `SnapshotBrowser`,
which answers it from `nasfs.fs.snapshot_view.SnapshotView`.

Inode numbers the kernel sees for snapshot nodes: bit 63 set, the snapshot id in the next
`ID_BITS` (24) bits, the volume's inode number at that generation in the low `INO_BITS` (39)
bits. Snapshot ids are never reused (AUTOINCREMENT), so a number always means the same
immutable node for the life of the mount and beyond; it is stable across calls and remounts.
Limits: snapshot ids up to 2^24 - 1 (16.7 million snapshots ever taken) and inode numbers
up to 2^39 - 1 (5.5 * 10^11 inodes ever created); a node beyond them is refused (EOVERFLOW,
logged as an error). The `#snapshot` folders themselves are virtual inodes at `FOLDER_BASE`
(in the gate's virtual range, above the `#trash` folders).

Who may read: the caller must be able to read the share now (the
live decision) AND must have been able to read it when the snapshot was taken, decided by
the policy state recorded with the snapshot (`nasfs.snapshots.policy_state.load`) for the
same uid; a uid that belonged to another user name then (or to no user) counts as having had
no access. Inside `homes`, `homes/<owner>` is for its owner (then and now) and
administrators. A snapshot without recorded state (taken offline) is judged by the live
rule alone. What the caller may not read is answered like the live tree: a share hidden now,
a share that was hidden then (or was no share then), and another user's home folder behave
as missing names; otherwise EACCES. The snapshot's own folder (`#snapshot/<name>`) is
shown with mode 000 when only the "then" rule refuses, so the kernel's
`default_permissions` refuses to enter it; POSIX modes and owners inside are the snapshot's.

Every write-type request inside is EACCES (never EROFS). Reads are logged as `open-read`
rows with the path `/#snapshot/<name>/...` inside the share.

Kernel caches: `#snapshot` entries and `#snapshot/<name>` entries (and, in `homes`, the home
folders) have zero entry timeouts like share roots, so a deleted snapshot vanishes at the next
path walk and every walk is judged as the walker. Content below is immutable: its entries and
attributes are cached for `CONTENT_TIMEOUT`; opens, directory opens, readlink and xattr
reads are judged again on every request.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from nasfs.errors import NasfsError
from nasfs.fs import ROOT_INODE, Attributes, Caller, errors
from nasfs.policy.acl import Access, Decision, Principal
from nasfs.policy.handles import Handle, Listed

if TYPE_CHECKING:
    from nasfs.fs.snapshot_view import SnapshotView
    from nasfs.policy.gate import Gate
    from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)

SNAPSHOT_NAME = b"#snapshot"
SNAPSHOT_BASE = 1 << 63
ID_BITS = 24
INO_BITS = 39
MAX_SNAPSHOT_ID = (1 << ID_BITS) - 1
MAX_REAL_INO = (1 << INO_BITS) - 1
# The gate's virtual inodes start at 1 << 62 (`#trash` folders count up from there).
FOLDER_BASE = (1 << 62) + (1 << 61)
CONTENT_TIMEOUT = 300.0  # snapshot content never changes; only its top can vanish
VOLATILE_TIMEOUT = 0.0
VOLATILE_ATTR_TIMEOUT = 1.0
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC
_CACHE_LIMIT = 65536

_ALL = Decision(Access.RW, admin=False)
_NOTHING = Decision(Access.NONE, admin=False)
_UNREADABLE_STATE = object()  # a recorded state that cannot be parsed: fail closed


class InodeSpaceExhausted(NasfsError):
    """A snapshot id or inode number too large for the kernel inode encoding."""

    errno = errno.EOVERFLOW


class SnapshotReadOnly(NasfsError):
    errno = errno.EACCES


class SnapshotAccessDenied(NasfsError):
    errno = errno.EACCES


def encode(snapshot_id: int, ino: int) -> int:
    """The kernel inode number of inode `ino` as seen in snapshot `snapshot_id`."""
    if not 0 < snapshot_id <= MAX_SNAPSHOT_ID or not 0 < ino <= MAX_REAL_INO:
        raise InodeSpaceExhausted(
            f"inode {ino} of snapshot {snapshot_id} does not fit the snapshot inode numbering "
            f"(ids up to {MAX_SNAPSHOT_ID}, inodes up to {MAX_REAL_INO})")
    return SNAPSHOT_BASE | snapshot_id << INO_BITS | ino


def decode(kernel_ino: int) -> tuple[int, int]:
    """(snapshot id, volume inode number) of a snapshot node's kernel inode number."""
    return (kernel_ino >> INO_BITS) & MAX_SNAPSHOT_ID, kernel_ino & MAX_REAL_INO


@dataclass(slots=True)
class SnapNode:
    """A kernel-known node inside a snapshot: where it was reached, for checks and logs."""

    parent: int  # kernel inode of the parent (a `#snapshot` folder or a snapshot node)
    name: bytes
    share: str
    snapshot: int
    home: str | None  # in `homes`: the owner folder it is in (or is)
    top: bool  # the snapshot's share folder itself (`#snapshot/<name>`)
    refs: int = 0  # kernel references (lookups + readdirplus entries - forgets)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a caller may do with a snapshot node."""

    decision: Decision
    missing: bool  # answer as a name that does not exist (shadowing)


class SnapshotBrowser:
    """The `#snapshot` folders of one gate (see module docstring)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.nodes: dict[int, SnapNode] = {}
        self._folders: dict[str, int] = {}  # share -> inode of its `#snapshot`
        self._folder_share: dict[int, str] = {}
        self._states: dict[int, object] = {}  # snapshot id -> PolicySnapshot | None | marker
        self._then: dict[tuple[int, int, int, str, str | None], Verdict] = {}

    # ----------------------------------------------------------------- numbering

    def owns(self, ino: int) -> bool:
        """Whether `ino` is a `#snapshot` folder or a node inside a snapshot."""
        return ino >= SNAPSHOT_BASE or ino in self._folder_share

    def folder_ino(self, share: str) -> int:
        ino = self._folders.get(share)
        if ino is None:
            ino = FOLDER_BASE + len(self._folders) + 1
            self._folders[share] = ino
            self._folder_share[ino] = share
        return ino

    def folder_attrs(self, ino: int) -> Attributes:
        t = self.gate._started_ns
        return Attributes(ino, stat.S_IFDIR | 0o555, 0, 0, 2, 0, 0, t, t, t, t)

    def timeouts(self, ino: int) -> tuple[float, float]:
        """(entry, attribute) timeouts for the kernel."""
        if ino in self._folder_share:
            return VOLATILE_TIMEOUT, VOLATILE_ATTR_TIMEOUT
        node = self.nodes.get(ino)
        if node is None or node.top or self._is_home_folder(node):
            return VOLATILE_TIMEOUT, VOLATILE_ATTR_TIMEOUT
        return CONTENT_TIMEOUT, CONTENT_TIMEOUT

    def negative_timeout(self, parent: int) -> float:
        if parent in self._folder_share:
            return VOLATILE_TIMEOUT  # a snapshot taken later must show up
        node = self.nodes.get(parent)
        if node is None or (node.top and self._share_is_homes(node.share)):
            return VOLATILE_TIMEOUT  # others' home folders are misses per caller
        return CONTENT_TIMEOUT

    def _share_is_homes(self, share: str) -> bool:
        policy = self.gate.policy
        record = policy.share(share) if policy is not None else None
        return record is not None and record.homes

    def _is_home_folder(self, node: SnapNode) -> bool:
        parent = self.nodes.get(node.parent)
        return parent is not None and parent.top and node.home is not None

    # ------------------------------------------------------------------ deciding

    def _view(self, snapshot_id: int) -> SnapshotView:
        # A view is a few fields; every call on it checks that the snapshot still exists.
        return self.gate.fs.snapshots.view(snapshot_id)

    def _state(self, snapshot_id: int) -> object:
        """The policy recorded with a snapshot: a PolicySnapshot, None (none recorded), or
        `_UNREADABLE_STATE`."""
        if snapshot_id in self._states:
            return self._states[snapshot_id]
        from nasfs.snapshots.policy_state import load

        text = self.gate.fs.snapshots.get(snapshot_id).policy_state
        state: object = None
        if text is not None:
            try:
                state = load(text)
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
                log.error("the policy state of snapshot %d cannot be read (%s); only "
                          "administrators may open it", snapshot_id, exc)
                state = _UNREADABLE_STATE
        if len(self._states) > _CACHE_LIMIT:
            self._states.clear()
        self._states[snapshot_id] = state
        return state

    def judge(self, who: Principal, share_name: str, snapshot_id: int | None,
              home: str | None) -> Verdict:
        """What `who` may do in share `share_name` at a snapshot (None: the `#snapshot`
        folder itself, judged by the live rule), inside home folder `home` if given."""
        policy = self.gate.policy
        if policy is None:
            return Verdict(_ALL, False)
        share = policy.share(share_name)
        if share is None:  # a folder that is no share (any more): administrators only
            return Verdict(Decision(Access.RW, True), False) if who.is_admin else Verdict(
                _NOTHING, True)
        now = self.gate._decide(who, share, None)
        if not now.can_read:
            return Verdict(now, share.hidden)
        if share.homes and home is not None:
            if not who.is_admin and home != who.name:
                return Verdict(_NOTHING, True)
            now = self.gate._decide(who, share, home)
        if snapshot_id is None:
            return Verdict(now, False)
        then = self._judge_then(who, share_name, snapshot_id, home)
        if then is None:
            return Verdict(now, False)
        if not then.decision.can_read:
            return then
        return Verdict(Decision(Access.RO, now.admin or then.decision.admin), False)

    def _judge_then(self, who: Principal, share_name: str, snapshot_id: int,
                    home: str | None) -> Verdict | None:
        """The decision of the policy recorded with the snapshot, None if it has none."""
        key = (snapshot_id, who.uid, who.gid, share_name, home)
        cached = self._then.get(key)
        if cached is not None:
            return cached
        state = self._state(snapshot_id)
        if state is None:
            return None
        verdict = self._decide_then(who, state, share_name, home)
        if len(self._then) > _CACHE_LIMIT:
            self._then.clear()
        self._then[key] = verdict
        return verdict

    @staticmethod
    def _decide_then(who: Principal, state: object, share_name: str,
                     home: str | None) -> Verdict:
        if state is _UNREADABLE_STATE:
            return Verdict(Decision(Access.RW, True), False) if who.is_admin else Verdict(
                _NOTHING, True)
        then_policy = cast("PolicySnapshot", state)
        share = then_policy.share(share_name)
        if share is None:  # no share then: its folder was for administrators only
            return Verdict(Decision(Access.RW, True), False) if who.is_admin else Verdict(
                _NOTHING, True)
        then_who = then_policy.identity_for(who.uid, who.gid)
        if not who.is_admin and (then_who.name is None or then_who.name != who.name):
            # The uid was nobody's, or someone else's: that person's access is not theirs.
            return Verdict(_NOTHING, share.hidden)
        decision = then_policy.decide(then_who, share, None)
        if not decision.can_read:
            return Verdict(decision, share.hidden)
        if share.homes and home is not None:
            if not who.is_admin and home != then_who.name:
                return Verdict(_NOTHING, True)
            decision = then_policy.decide(then_who, share, home)
        return Verdict(decision, False)

    # ------------------------------------------------------------------- places

    def _where(self, ino: int) -> tuple[str, SnapNode | None]:
        """(share, node) of an inode this browser owns; NotFound if the kernel's number is
        unknown (fail closed: it only names inodes it looked up through us)."""
        share = self._folder_share.get(ino)
        if share is not None:
            return share, None
        node = self.nodes.get(ino)
        if node is None:
            log.warning("snapshot inode %#x is not in the share map", ino)
            raise errors.NotFound("no such entry")
        return node.share, node

    def path(self, ino: int, name: bytes | None = None) -> tuple[str | None, bytes]:
        """(share, path inside it) for the log: `/#snapshot/<name>/...`."""
        parts: list[bytes] = [] if name is None else [name]
        cur = ino
        share: str | None = self._folder_share.get(ino)
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
        verdict = self.judge(who, share, sid, node.home if node is not None else None)
        problem: NasfsError | None = None
        if verdict.missing:
            problem = errors.NotFound("no such entry")
        elif not verdict.decision.can_read:
            problem = SnapshotAccessDenied("no read access to this share at that snapshot")
        if problem is not None:
            s, path = self.path(ino, name)
            raise await self.gate._deny(who, caller, operation, s, path, problem)
        return verdict

    async def refuse(self, who: Principal, caller: Caller, ino: int, operation: str,
                     name: bytes | None = None) -> NasfsError:
        """The error for a write-type request in a snapshot (logged): what a reader would
        get for a name they may not see, else EACCES."""
        await self.need(who, caller, ino, operation, name)
        s, path = self.path(ino, name)
        return await self.gate._deny(who, caller, operation, s, path,
                                     SnapshotReadOnly("snapshots are read-only"))

    def blocks(self, a: Attributes) -> int:
        """st_blocks of a node this browser owns (`a` as it showed it)."""
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
        for info in self.gate.fs.snapshots.list(sizes=False):
            if info.name.encode("utf-8", "surrogateescape") == name:
                return info.id
        return None

    def _share_folder_at(self, snapshot_id: int, share: str) -> Attributes | None:
        try:
            a = self._view(snapshot_id).lookup(ROOT_INODE, share.encode())
        except errors.NotFound:
            return None
        return a if stat.S_ISDIR(a.mode) else None

    def _shown(self, a: Attributes, verdict: Verdict, node_ino: int) -> Attributes:
        mode = a.mode if verdict.decision.can_read else a.mode & ~0o7777
        return Attributes(node_ino, mode, a.uid, a.gid, a.nlink, a.size, a.rdev, a.atime_ns,
                          a.mtime_ns, a.ctime_ns, a.crtime_ns)

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
            verdict = self.judge(who, share, sid, None)
            if verdict.missing:
                return None
            ino = encode(sid, a.ino)
            self._take(ino, SnapNode(parent, name, share, sid, None, True))
            return self._shown(a, verdict, ino)
        view, real_parent = self._view_of(parent, pnode)
        home = pnode.home
        if pnode.top and self._share_is_homes(share):
            home = name.decode("utf-8", "surrogateescape")
            if self.judge(who, share, pnode.snapshot, home).missing:
                return None  # another user's home folder: as if it were not there
        try:
            a = view.lookup(real_parent, name)
        except errors.NotFound:
            return None
        ino = encode(pnode.snapshot, a.ino)
        self._take(ino, SnapNode(parent, name, share, pnode.snapshot, home, False))
        return self._shown(a, Verdict(_ALL, False), ino)

    def forget(self, ino: int, n: int) -> None:
        node = self.nodes.get(ino)
        if node is None:
            return
        node.refs -= n
        if node.refs <= 0:
            del self.nodes[ino]

    def listed(self, h: Handle, ino: int) -> None:
        """The kernel took entry `ino` of a listing of `h` (readdirplus): one reference."""
        node = self.nodes.get(ino)
        if node is None and h.pending is not None:
            node = h.pending.pop(ino, None)
        if node is not None:
            node.refs += 1
            self.nodes[ino] = node

    async def getattr(self, ino: int, who: Principal, caller: Caller) -> Attributes:
        if ino in self._folder_share:
            return self.folder_attrs(ino)
        share, node = self._where(ino)
        assert node is not None
        verdict = self.judge(who, share, node.snapshot, node.home)
        if verdict.missing:
            raise errors.NotFound("no such entry")
        if not verdict.decision.can_read and not node.top:
            raise SnapshotAccessDenied("no read access to this share at that snapshot")
        view, real = self._view_of(ino, node)
        return self._shown(view.getattr(real), verdict, ino)

    # --------------------------------------------------------------------- files

    async def open(self, ino: int, flags: int, who: Principal, caller: Caller) -> Handle:
        if flags & _WRITE_FLAGS:
            raise await self.refuse(who, caller, ino, "open-write")
        verdict = await self.need(who, caller, ino, "open-read")
        share, node = self._where(ino)
        if node is None:
            raise errors.IsADirectory("the snapshot folder is a directory")
        view, real = self._view_of(ino, node)
        a = view.getattr(real)
        if stat.S_ISDIR(a.mode):
            raise errors.IsADirectory("is a directory")
        _, path = self.path(ino)
        return Handle(ino, who, share, path, verdict.decision.admin, "open-read",
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
        _, path = self.path(ino)
        if verdict.decision.admin:
            await self.gate._log(who, caller, "opendir", share, path, admin=True)
        if node is None:
            return Handle(ino, who, share, path, verdict.decision.admin, "opendir",
                          time.time_ns(), caller.pid, is_dir=True, snapshot_folder=share)
        view, real = self._view_of(ino, node)
        view.getattr(real)  # NotFound once the snapshot is gone
        return Handle(ino, who, share, path, verdict.decision.admin, "opendir",
                      time.time_ns(), caller.pid, is_dir=True, view=view, real_ino=real)

    def readdir(self, h: Handle, after: int) -> list[Listed]:
        if h.snapshot_folder is not None:
            return self._readdir_folder(h, after)
        node = self.nodes.get(h.ino)
        if node is None or h.view is None:
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
                    if self.judge(h.who, node.share, node.snapshot, home).missing:
                        continue
                ino = encode(node.snapshot, a.ino)
                self._register(h, ino, SnapNode(h.ino, name, node.share, node.snapshot, home,
                                             False))
                out.append(Listed(offset, name, self._shown(a, Verdict(_ALL, False), ino)))
            if out:
                return out

    def _readdir_folder(self, h: Handle, after: int) -> list[Listed]:
        """One entry per snapshot that holds this share's folder and that the caller may
        know of; offsets are snapshot ids (never reused)."""
        share = h.snapshot_folder
        assert share is not None
        out: list[Listed] = []
        infos = sorted(self.gate.fs.snapshots.list(sizes=False), key=lambda i: i.id)
        live = {i.id for i in infos}
        for sid in [s for s in self._states if s not in live]:
            del self._states[sid]
        for info in infos:
            if info.id <= after:
                continue
            a = self._share_folder_at(info.id, share)
            if a is None:
                continue
            verdict = self.judge(h.who, share, info.id, None)
            if verdict.missing:
                continue
            name = info.name.encode("utf-8", "surrogateescape")
            ino = encode(info.id, a.ino)
            self._register(h, ino, SnapNode(h.ino, name, share, info.id, None, True))
            out.append(Listed(info.id, name, self._shown(a, verdict, ino)))
        return out

    @staticmethod
    def _register(h: Handle, ino: int, node: SnapNode) -> None:
        """Keep `node` (a readdir entry) with the listing's handle until the kernel takes a
        reference (`listed`, readdirplus); a plain readdir gives none, and the handle's
        release then forgets it, so listings never grow the node map."""
        if h.pending is None:
            h.pending = {}
        h.pending[ino] = node


__all__ = ["SNAPSHOT_BASE", "SNAPSHOT_NAME", "SnapshotBrowser", "decode", "encode"]
