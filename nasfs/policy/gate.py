"""The policy gate between the FUSE adapter and the filesystem: who is asking, may they,
record it, trash instead of delete, shadow what they may not see.

Every kernel request reaches a `Gate` method with a `Caller` (uid, gid, pid, umask). The
gate maps it to a NAS principal, finds the share (and, in `homes`, the owner folder) of the
inode concerned from an in-memory map kept on lookup/create/rename, decides with the
policy's in-memory snapshot, calls `Filesystem`, and queues an access-log row without
waiting (back-pressure only when the log's queue is full).

Shadowing relies on three things working together (docs/policy.md, "The FUSE gate"):
the root directory, share roots, `homes/<owner>` folders and `#trash` entries get zero
kernel cache timeouts, so every path walk through them asks us again as the walker; share
roots and home folders are shown to each caller with the permission bits they may use
(no access: 000), so the kernel's own `default_permissions` check refuses entering them;
and every request that names an inode directly (open, create, unlink, setattr, ...) is
checked here again.

Requests on a share's `#snapshot` folder or below go to `SnapshotBrowser`
(nasfs.policy.snapshot_browse): read-only snapshots, judged by the policy now and then.

Without a policy (`policy=None`: test mounts and benchmarks of the bare filesystem) every
caller is allowed everything, nothing is logged or trashed, and caches keep their timeouts.

Concurrency: runs on the trio thread like `Filesystem`; code between two awaits is atomic.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasfs.errors import NasfsError
from nasfs.fs import (
    ROOT_INODE,
    AttrChanges,
    Attributes,
    Caller,
    Filesystem,
    check_rename_flags,
    errors,
)
from nasfs.operations import ACCESS_OPERATIONS
from nasfs.policy.acl import Access, Decision, Principal
from nasfs.policy.auditstore import LogEntry
from nasfs.policy.handles import Handle, Listed
from nasfs.policy.records import ShareRecord
from nasfs.policy.service import process_name
from nasfs.policy.snapshot_browse import SNAPSHOT_NAME, SnapshotBrowser

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService
    from nasfs.trash import Trash, TrashItem

log = logging.getLogger(__name__)

# Virtual inodes (`#trash` folders) are numbered from here; real ones count up from 2.
VIRTUAL_BASE = 1 << 62
TRASH_NAME = b"#trash"
RESERVED_NAMES = frozenset({TRASH_NAME, SNAPSHOT_NAME})
ENTRY_TIMEOUT = 60.0  # ordinary entries: this mount is the only writer
VOLATILE_TIMEOUT = 0.0  # entries whose visibility depends on who asks: every walk asks us
# Attributes of those entries may be cached briefly: each walk's LOOKUP (as the walker)
# replaces them with what that caller may see before the kernel checks permissions.
VOLATILE_ATTR_TIMEOUT = 1.0
PROCESS_NAME_TTL = 1.0  # seconds a pid's process name is reused for log rows
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR


class AccessDenied(NasfsError):
    errno = errno.EACCES


class CrossShare(NasfsError):
    errno = errno.EXDEV


class ShareBusy(NasfsError):
    errno = errno.EBUSY


class AclsNotSupported(NasfsError):
    errno = errno.EOPNOTSUPP


# POSIX ACLs are not enforced on this mount (the kernel is not asked to), so storing them as
# plain xattrs would promise a protection that is not there, and tools that copy them (cp -a)
# would leave the mode bits they expected the ACL to set. Refused, such tools use the modes.
_ACL_XATTRS = frozenset({b"system.posix_acl_access", b"system.posix_acl_default"})


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


@dataclass(slots=True)
class _Place:
    share: ShareRecord | None
    node: Node | None
    decision: Decision


_UNRESTRICTED = Decision(Access.RW, admin=False)
_NOTHING = Decision(Access.NONE, admin=False)


def _errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def _display(item: TrashItem) -> bytes:
    """An item's name inside `#trash`: its original name and its id, e.g. `a.txt #12`."""
    return item.name + b" #" + str(item.id).encode()


def _last_name(a: Attributes) -> bool:
    """Whether removing one name of `a` throws its content away (so the trash keeps it):
    a non-directory with one link. With more, the other names keep the data, and the
    name simply goes, lowering st_nlink as on any filesystem."""
    return not stat.S_ISDIR(a.mode) and a.nlink <= 1


def _item_id(display: bytes) -> int | None:
    head, sep, tail = display.rpartition(b" #")
    return int(tail) if sep and head and tail.isdigit() else None


class Gate:
    """See the module docstring."""

    def __init__(self, fs: Filesystem, policy: PolicyService | None,
                 trash: Trash | None = None) -> None:
        self.fs = fs
        self.policy = policy
        self.trash = trash
        self.nodes: dict[int, Node] = {}
        self.handles: dict[int, Handle] = {}
        self._next_fh = 1
        self._decisions: dict[tuple[int, int, str, str | None], Decision] = {}
        self._decisions_version = -1
        self._virtual: dict[str, int] = {}  # share -> inode of its #trash
        self._virtual_share: dict[int, str] = {}
        self._started_ns = time.time_ns()
        self._comms: dict[int, tuple[float, str | None]] = {}
        self.restrict = policy is not None
        self.snapshots = SnapshotBrowser(self)  # the `#snapshot` folders and what is below

    # ------------------------------------------------------------------ identity

    def principal(self, caller: Caller) -> Principal:
        if self.policy is None:
            return Principal(caller.uid, caller.gid, None, frozenset(), True, False)
        return self.policy.identity_for(caller.uid, caller.gid)

    def _decide(self, who: Principal, share: ShareRecord, home: str | None) -> Decision:
        assert self.policy is not None
        version = self.policy.version
        if version != self._decisions_version:
            self._decisions.clear()
            self._decisions_version = version
        key = (who.uid, who.gid, share.name, home)
        d = self._decisions.get(key)
        if d is None:
            d = self._decisions[key] = self.policy.decide(who, share, home)
        return d

    def _share_named(self, name: bytes) -> ShareRecord | None:
        if self.policy is None:
            return None
        try:
            return self.policy.share(name.decode())
        except UnicodeDecodeError:
            return None

    def _place(self, who: Principal, ino: int) -> _Place:
        """The share, node and decision for `who` on inode `ino` (the root: read only)."""
        if self.policy is None:
            return _Place(None, self.nodes.get(ino), _UNRESTRICTED)
        if ino == ROOT_INODE:
            return _Place(None, None, Decision(Access.RW if who.is_admin else Access.RO, False))
        vshare = self._virtual_share.get(ino)
        node = self.nodes.get(ino)
        name = vshare if vshare is not None else (node.share if node else None)
        if node is None and vshare is None:
            # The kernel only names inodes it looked up through us; fail closed anyway.
            log.warning("inode %d is not in the share map", ino)
        share = self.policy.share(name) if name is not None else None
        if share is None:
            d = Decision(Access.RW, admin=True) if who.is_admin else _NOTHING
            return _Place(None, node, d)
        return _Place(share, node, self._decide(who, share, node.home if node else None))

    def _shadowed(self, who: Principal, place: _Place) -> bool:
        """Whether `who` must not even learn that this inode's top folder exists."""
        if not self.restrict or who.is_admin or place.node is None:
            return False
        if place.share is None:
            return True  # top-level folders that are no share: administrators only
        if place.share.homes and place.node.home is not None:
            return place.node.home != who.name
        return place.share.hidden and not place.decision.can_read

    # ------------------------------------------------------------------- logging

    def _path(self, ino: int) -> tuple[str | None, bytes]:
        """(share, path inside it) of a known inode, for the log."""
        if self.snapshots.owns(ino):
            return self.snapshots.path(ino)
        parts: list[bytes] = []
        share: str | None = None
        cur = ino
        for _ in range(4096):
            node = self.nodes.get(cur)
            if node is None or cur == ROOT_INODE:
                break
            if node.trash and self.trash is not None:
                item = self.trash.repo.get(node.trash)
                if item is not None:
                    return item.share, item.path
            if node.parent == ROOT_INODE:
                share = node.share
                break
            parts.append(node.name)
            cur = node.parent
        return share, b"/" + b"/".join(reversed(parts))

    def _child_path(self, parent: int, name: bytes) -> tuple[str | None, bytes]:
        if parent == ROOT_INODE:
            s = self._share_named(name)
            return (s.name if s else None), b"/"
        vshare = self._virtual_share.get(parent)
        if vshare is not None:
            return vshare, b"/" + TRASH_NAME + b"/" + name
        if self.snapshots.owns(parent):
            return self.snapshots.path(parent, name)
        share, path = self._path(parent)
        return share, (path.rstrip(b"/") + b"/" + name)

    async def _log(self, who: Principal, caller: Caller, operation: str, share: str | None,
                   path: bytes | None, *, result: str = "OK", second: bytes | None = None,
                   nbytes: int | None = None, admin: bool = False, detail: str | None = None,
                   time_ns: int | None = None) -> None:
        # Every name a row carries is in the one list the CLI and the console filter by.
        assert operation in ACCESS_OPERATIONS, f"unlisted access-log operation {operation!r}"
        if self.policy is None:
            return
        audit = self.policy.audit
        if audit is None:  # only while the daemon starts or stops
            return
        # Stamped here with the log's own clock: the writer would otherwise copy the frozen
        # entry just to set the time (dataclasses.replace, the costliest step of recording).
        entry = LogEntry(operation, result, who.name, who.uid, caller.pid,
                         self._process_name(caller.pid), share, path, second, nbytes, admin,
                         detail, time_ns if time_ns is not None else self.policy.clock.now_ns())
        if not audit.record_nowait(entry):
            await audit.record(entry)  # back-pressure: the log's queue is full

    def _process_name(self, pid: int) -> str | None:
        """/proc/PID/comm, reused for a second (a busy writer opens many files)."""
        now = time.monotonic()
        cached = self._comms.get(pid)
        if cached is not None and now - cached[0] < PROCESS_NAME_TTL:
            return cached[1]
        if len(self._comms) > 4096:
            self._comms.clear()
        name = process_name(pid)
        self._comms[pid] = (now, name)
        return name

    async def _deny(self, who: Principal, caller: Caller, operation: str, share: str | None,
                    path: bytes | None, exc: NasfsError) -> NasfsError:
        await self._log(who, caller, operation, share, path, result=_errno_name(exc.errno))
        return exc

    # ---------------------------------------------------------------- attributes

    def volatile(self, ino: int) -> bool:
        """Whether the kernel must not cache this entry (its visibility depends on who)."""
        if not self.restrict:
            return False
        if ino == ROOT_INODE:
            return False  # looked up by no one; its attributes are the same for all
        if ino >= VIRTUAL_BASE:
            return True
        node = self.nodes.get(ino)
        if node is None:
            return True
        return node.parent == ROOT_INODE or node.via_trash or (
            node.home is not None and self._is_homes_root(node.parent))

    def timeouts(self, ino: int) -> tuple[float, float]:
        """(entry, attribute) timeouts the kernel may cache an entry of `ino` for."""
        if self.restrict and self.snapshots.owns(ino):
            return self.snapshots.timeouts(ino)
        if self.volatile(ino):
            return VOLATILE_TIMEOUT, VOLATILE_ATTR_TIMEOUT
        return ENTRY_TIMEOUT, ENTRY_TIMEOUT

    def negative_timeout(self, parent: int) -> float:
        """How long the kernel may remember that a name is missing in `parent`."""
        if self.restrict and self.snapshots.owns(parent):
            return self.snapshots.negative_timeout(parent)
        return VOLATILE_TIMEOUT if self.negative_volatile(parent) else ENTRY_TIMEOUT

    def negative_volatile(self, parent: int) -> bool:
        return self.restrict and (parent == ROOT_INODE or parent >= VIRTUAL_BASE
                                  or self._is_homes_root(parent))

    def _is_homes_root(self, ino: int) -> bool:
        node = self.nodes.get(ino)
        if node is None or node.parent != ROOT_INODE or node.share is None:
            return False
        share = self._share_named(node.name)
        return share is not None and share.homes

    def _is_share_root(self, ino: int) -> bool:
        node = self.nodes.get(ino)
        return node is not None and node.parent == ROOT_INODE and node.share is not None

    def _shown(self, who: Principal, a: Attributes, place: _Place | None = None) -> Attributes:
        """`a` as `who` may see it: share roots and home folders carry only the permission
        bits the caller may use, so the kernel refuses the rest; directories whose listing
        differs per caller report nlink 1 ('not counted'), which hides hidden subfolders."""
        if not self.restrict:
            return a
        if a.ino == ROOT_INODE:
            return dataclasses.replace(a, nlink=1)
        node = self.nodes.get(a.ino)
        if node is None:
            return a
        top = node.parent == ROOT_INODE
        home_folder = node.home is not None and self._is_homes_root(node.parent)
        if not (top or home_folder):
            return a
        place = place or self._place(who, a.ino)
        mode = a.mode
        if not place.decision.can_read:
            mode &= ~0o777
        elif not place.decision.can_write:
            mode &= ~0o222
        nlink = 1 if (top and place.share is not None and place.share.homes) else a.nlink
        return dataclasses.replace(a, mode=mode, nlink=nlink)

    def blocks(self, a: Attributes) -> int:
        """st_blocks of attributes this gate returned (snapshot nodes are the browser's)."""
        if self.snapshots.owns(a.ino):
            return self.snapshots.blocks(a)
        if a.ino >= VIRTUAL_BASE:
            return 0
        return self.fs.blocks(a)

    def _virtual_attrs(self, ino: int) -> Attributes:
        # Sticky and world-writable so that the kernel lets owners move their own items out
        # (restore by rename); every write into it is refused here (EACCES).
        t = self._started_ns
        return Attributes(ino, stat.S_IFDIR | 0o1777, 0, 0, 2, 0, 0, t, t, t, t)

    def _trash_ino(self, share: str) -> int:
        ino = self._virtual.get(share)
        if ino is None:
            ino = VIRTUAL_BASE + len(self._virtual) + 1
            self._virtual[share] = ino
            self._virtual_share[ino] = share
        return ino

    # ------------------------------------------------------------------- lookups

    def _node(self, parent: int, name: bytes, *, trash: int = 0) -> Node | None:
        """Where entry `name` of `parent` lives (None: `parent` is not in the map)."""
        if parent == ROOT_INODE:
            share = self._share_named(name)
            return Node(ROOT_INODE, name, share.name if share else None)
        vshare = self._virtual_share.get(parent)
        if vshare is not None:
            return Node(parent, name, vshare, None, trash, via_trash=True)
        p = self.nodes.get(parent)
        if p is None:
            return None
        home = p.home
        if home is None and self._is_homes_root(parent):
            home = name.decode("utf-8", "surrogateescape")
        return Node(parent, name, p.share, home)

    def _remember(self, parent: int, name: bytes, a: Attributes, *, trash: int = 0) -> None:
        """Map `a.ino` (the kernel holds a reference on it now: lookup, create, ...)."""
        node = self._node(parent, name, trash=trash)
        if node is not None:
            self.nodes[a.ino] = node

    @staticmethod
    def _pending(h: Handle) -> dict[int, Node]:
        """The listing's nodes not yet taken by the kernel, emptied for the next batch: the
        kernel resumes after the last entry it took, so untaken ones are listed again."""
        if h.pending is None:
            h.pending = {}
        else:
            h.pending.clear()
        return h.pending

    def _list_node(self, pending: dict[int, Node], parent: int, name: bytes, a: Attributes,
                   *, trash: int = 0) -> None:
        """Keep `name`'s node with the listing until the kernel takes the entry (`listed`):
        a reply buffer that fills up, or a listing abandoned half way, gives it no reference,
        and only referenced inodes stay in the map (so listings never grow it)."""
        node = self._node(parent, name, trash=trash)
        if node is not None:
            pending[a.ino] = node

    async def lookup(self, parent: int, name: bytes, caller: Caller) -> Attributes | None:
        """Attributes of `name` in `parent`, or None (absent, or shadowed for the caller)."""
        who = self.principal(caller)
        if parent in self._virtual_share:
            return await self._lookup_trash(parent, name, who, caller)
        if self.snapshots.owns(parent):
            return await self.snapshots.lookup(parent, name, who, caller)
        place = self._place(who, parent)
        if parent == ROOT_INODE and self.restrict and not who.is_admin:
            share = self._share_named(name)
            if share is None:
                self.fs.lookup(parent, name, caller)  # the same checks as for any name
                return None
            if share.hidden and not self._decide(who, share, None).can_read:
                await self._log(who, caller, "lookup", share.name, b"/", result="ENOENT")
                self.fs.lookup(parent, name, caller)  # same work as a miss, same errors
                return None
        elif parent != ROOT_INODE:
            if self._shadowed(who, place):
                raise errors.NotFound("no such entry")
            if not place.decision.can_read:
                sname, path = self._child_path(parent, name)
                raise await self._deny(who, caller, "lookup", sname, path,
                                       AccessDenied("no read access to this share"))
            if self._is_share_root(parent) and self.restrict:
                if name == TRASH_NAME and place.share is not None:
                    return self._virtual_attrs(self._trash_ino(place.share.name))
                if name == SNAPSHOT_NAME and place.share is not None:
                    return self.snapshots.folder_attrs(
                        self.snapshots.folder_ino(place.share.name))
            if place.share is not None and place.share.homes and self._is_share_root(parent):
                if not who.is_admin and name != (who.name or "").encode():
                    self.fs.lookup(parent, name, caller)
                    return None
                if not who.is_admin and who.name is not None and name == who.name.encode():
                    self._ensure_home(parent, who)
        a = self.fs.lookup(parent, name, caller)
        if a is None:
            return None
        self._remember(parent, name, a)
        return self._shown(who, a)

    def _ensure_home(self, homes_root: int, who: Principal) -> None:
        assert who.name is not None
        name = who.name.encode()
        if self.fs.repo.lookup(homes_root, name) is None:
            a = self.fs.mkdir(homes_root, name, 0o700, Caller(who.uid, who.gid))
            self.fs.forget(a.ino, 1)  # mkdir counts a kernel reference; the kernel has none
            log.info("created the home folder of %s", who.name)

    def _visible_items(self, share: str, who: Principal) -> list[TrashItem]:
        if self.trash is None:
            return []
        return self.trash.items(share, None if who.is_admin else who.uid)

    def _trash_item(self, vino: int, display: bytes, who: Principal) -> TrashItem | None:
        item_id = _item_id(display)
        if item_id is None or self.trash is None:
            return None
        item = self.trash.repo.get(item_id)
        share = self._virtual_share[vino]
        if item is None or item.share != share or _display(item) != display:
            return None
        if not who.is_admin and item.uid != who.uid:
            return None
        return item

    async def _lookup_trash(self, vino: int, name: bytes, who: Principal,
                            caller: Caller) -> Attributes | None:
        place = self._place(who, vino)
        if not place.decision.can_read:
            raise AccessDenied("no read access to this share")
        item = self._trash_item(vino, name, who)
        if item is None or self.trash is None:
            return None
        from nasfs.trash.service import entry_name

        a = self.fs.lookup(self.trash.dir, entry_name(item.id), caller)
        if a is None:
            return None
        self._remember(vino, name, a, trash=item.id)
        return a

    def forget(self, inodes: Iterable[tuple[int, int]]) -> None:
        for ino, n in inodes:
            if ino >= VIRTUAL_BASE:
                self.snapshots.forget(ino, n)
                continue
            self.fs.forget(ino, n)
            if self.fs.lookup_count(ino) == 0:
                self.nodes.pop(ino, None)

    async def getattr(self, ino: int, caller: Caller) -> Attributes:
        if self.snapshots.owns(ino):
            return await self.snapshots.getattr(ino, self.principal(caller), caller)
        if ino >= VIRTUAL_BASE:
            return self._virtual_attrs(ino)
        a = self.fs.getattr(ino)
        if not self.restrict:
            return a
        who = self.principal(caller)
        place = self._place(who, ino)
        if self._shadowed(who, place):
            raise errors.NotFound("no such entry")
        top = place.node is not None and (place.node.parent == ROOT_INODE or (
            place.node.home is not None and self._is_homes_root(place.node.parent)))
        if ino != ROOT_INODE and not top and not place.decision.can_read:
            raise AccessDenied("no read access to this share")
        return self._shown(who, a, place)

    # ------------------------------------------------------------------ checking

    async def _need(self, who: Principal, caller: Caller, ino: int, write: bool,
                    operation: str, name: bytes | None = None) -> _Place:
        """The place of `ino` if `who` may read (or write) there; else logs and raises."""
        if self.snapshots.owns(ino):
            if write:
                raise await self.snapshots.refuse(who, caller, ino, operation, name)
            verdict = await self.snapshots.need(who, caller, ino, operation, name)
            return _Place(None, None, verdict.decision)
        place = self._place(who, ino)
        if not self.restrict:
            return place
        problem: NasfsError | None = None
        if self._shadowed(who, place):
            problem = errors.NotFound("no such entry")
        elif write and (ino in self._virtual_share or self._read_only_item(place.node)):
            problem = AccessDenied("the trash folder is read-only")
        elif not (place.decision.can_write if write else place.decision.can_read):
            problem = AccessDenied("access denied by the share's ACL")
        if problem is not None:
            share, path = self._child_path(ino, name) if name is not None else self._path(ino)
            raise await self._deny(who, caller, operation, share, path, problem)
        return place

    def _read_only_item(self, node: Node | None) -> bool:
        """Whether `node` was reached through `#trash` and is still a trash item (restored
        through the control socket, it is an ordinary file again before any new lookup)."""
        return (node is not None and node.via_trash and self.trash is not None
                and self.trash.repo.get(node.trash) is not None)

    async def _need_create(self, who: Principal, caller: Caller, parent: int, name: bytes,
                           operation: str) -> _Place:
        place = await self._need(who, caller, parent, True, operation, name)
        if not self.restrict:
            return place
        share, path = self._child_path(parent, name)
        if parent == ROOT_INODE and not who.is_admin:
            raise await self._deny(who, caller, operation, share, path, AccessDenied(
                "only administrators create top-level folders (shares)"))
        if self._is_share_root(parent):
            if name in RESERVED_NAMES:
                raise await self._deny(who, caller, operation, share, path,
                                       AccessDenied(f"{name!r} is reserved"))
            if place.share is not None and place.share.homes and not who.is_admin:
                raise await self._deny(who, caller, operation, share, path, AccessDenied(
                    "home folders are made by the system"))
        return place

    async def _keep_reserved(self, who: Principal, caller: Caller, parent: int, name: bytes,
                             operation: str) -> None:
        """`#trash` and `#snapshot` in a share folder are not removed or renamed (EACCES)."""
        if self.restrict and name in RESERVED_NAMES and self._is_share_root(parent):
            share, path = self._child_path(parent, name)
            raise await self._deny(who, caller, operation, share, path,
                                   AccessDenied(f"{name!r} is part of the share"))

    def _creator(self, caller: Caller, place: _Place) -> Caller:
        share = place.share
        if share is None or share.force_group is None or self.policy is None:
            return caller
        group = self.policy.snapshot.groups.get(share.force_group)
        return caller if group is None else dataclasses.replace(caller, gid=group.gid)

    # ------------------------------------------------------------------ creating

    async def _created(self, who: Principal, caller: Caller, operation: str, parent: int,
                       name: bytes, a: Attributes, place: _Place,
                       second: bytes | None = None) -> Attributes:
        self._remember(parent, name, a)
        share, path = self._child_path(parent, name)
        await self._log(who, caller, operation, share, path, admin=place.decision.admin,
                        second=second)
        return a

    async def mknod(self, parent: int, name: bytes, mode: int, rdev: int,
                    caller: Caller) -> Attributes:
        who = self.principal(caller)
        place = await self._need_create(who, caller, parent, name, "mknod")
        if place.share is not None and place.share.create_mode is not None:
            mode = stat.S_IFMT(mode) | place.share.create_mode
        a = self.fs.mknod(parent, name, mode, rdev, self._creator(caller, place))
        return await self._created(who, caller, "mknod", parent, name, a, place)

    async def mkdir(self, parent: int, name: bytes, mode: int, caller: Caller) -> Attributes:
        who = self.principal(caller)
        place = await self._need_create(who, caller, parent, name, "mkdir")
        if place.share is not None and place.share.dir_mode is not None:
            mode = place.share.dir_mode
        a = self.fs.mkdir(parent, name, mode, self._creator(caller, place))
        return await self._created(who, caller, "mkdir", parent, name, a, place)

    async def symlink(self, parent: int, name: bytes, target: bytes,
                      caller: Caller) -> Attributes:
        who = self.principal(caller)
        place = await self._need_create(who, caller, parent, name, "symlink")
        a = self.fs.symlink(parent, name, target, self._creator(caller, place))
        return await self._created(who, caller, "symlink", parent, name, a, place,
                                   second=target)

    async def create(self, parent: int, name: bytes, mode: int, flags: int,
                     caller: Caller) -> tuple[int, Attributes]:
        who = self.principal(caller)
        place = await self._need_create(who, caller, parent, name, "create")
        if place.share is not None and place.share.create_mode is not None:
            mode = place.share.create_mode
        a = self.fs.create(parent, name, mode, self._creator(caller, place))
        self._remember(parent, name, a)
        share, path = self._child_path(parent, name)
        fh = self._new_handle(Handle(a.ino, who, share, path, place.decision.admin, "create",
                                     time.time_ns(), caller.pid))
        return fh, a

    async def link(self, ino: int, parent: int, name: bytes, caller: Caller) -> Attributes:
        who = self.principal(caller)
        if self.snapshots.owns(ino):
            raise await self.snapshots.refuse(who, caller, ino, "link")
        if self.snapshots.owns(parent):
            raise await self.snapshots.refuse(who, caller, parent, "link", name)
        if self.restrict:
            src, dst = self.nodes.get(ino), self.nodes.get(parent)
            if self._read_only_item(src):
                raise AccessDenied("items in the trash cannot be linked")
            if not self._same_area(src, parent, dst):
                share, path = self._child_path(parent, name)
                raise await self._deny(who, caller, "link", share, path,
                                       CrossShare("hard links cannot cross shares"))
        await self._need(who, caller, ino, True, "link")
        place = await self._need_create(who, caller, parent, name, "link")
        a = self.fs.link(ino, parent, name, caller)
        return await self._created(who, caller, "link", parent, name, a, place,
                                   second=self._path(ino)[1])

    def _same_area(self, src: Node | None, dst_parent: int, dst: Node | None) -> bool:
        """Whether an inode at `src` may move or link into directory `dst_parent`."""
        if dst_parent == ROOT_INODE:
            return src is not None and src.parent == ROOT_INODE
        if src is None or dst is None:
            return False
        if src.parent == ROOT_INODE:
            return False  # a share's own folder never moves into a share
        dst_home = dst.home
        if dst_home is None and self._is_homes_root(dst_parent):
            dst_home = src.home  # a move into the homes root is refused as a create
        return src.share == dst.share and src.home == dst_home

    # ------------------------------------------------------------------ removing

    def _trash_on(self, place: _Place) -> bool:
        return (self.trash is not None and place.share is not None
                and place.share.trash_days is not None)

    async def unlink(self, parent: int, name: bytes, caller: Caller) -> None:
        who = self.principal(caller)
        place = await self._need(who, caller, parent, True, "delete", name)
        await self._keep_reserved(who, caller, parent, name, "delete")
        share, path = self._child_path(parent, name)
        if parent == ROOT_INODE and self.restrict and not who.is_admin:
            raise await self._deny(who, caller, "delete", share, path,
                                   AccessDenied("only administrators change the top level"))
        a = self.fs.repo.lookup_attrs(parent, name)
        if self._trash_on(place) and a is not None and _last_name(a):
            item = self._to_trash(parent, name, share, path, who, "unlink")
            await self._log(who, caller, "delete", share, path, admin=place.decision.admin,
                            nbytes=a.size, detail=f"to trash #{item.id}")
            return
        self.fs.unlink(parent, name, caller)
        detail = "deleted" if self.trash is not None else None
        if a is not None and not stat.S_ISDIR(a.mode):
            self._name_gone(a.ino, parent, name)
            if self._trash_on(place):
                detail = "one name of several removed (the others keep the data)"
        await self._log(who, caller, "delete", share, path, admin=place.decision.admin,
                        detail=detail)

    def _name_gone(self, ino: int, parent: int, name: bytes) -> None:
        """Entry `name` of `parent` no longer names `ino`: if the node was known by it, move
        it to one of the names left (all in the same share: links never cross shares)."""
        node = self.nodes.get(ino)
        if node is None or (node.parent, node.name) != (parent, name):
            return
        for other_parent, other_name in self.fs.repo.names_of(ino, 1):
            node.parent, node.name = other_parent, other_name

    def _to_trash(self, parent: int, name: bytes, share: str | None, path: bytes,
                  who: Principal, reason: str) -> TrashItem:
        from nasfs.trash.service import Deleter

        assert self.trash is not None and share is not None
        item = self.trash.move_in(parent, name, share, path, Deleter(who.name, who.uid),
                                  reason)
        node = self.nodes.get(item.ino)
        if node is not None:
            node.parent, node.name, node.trash = self._trash_ino(share), _display(item), item.id
        return item

    async def rmdir(self, parent: int, name: bytes, caller: Caller) -> None:
        who = self.principal(caller)
        place = await self._need(who, caller, parent, True, "rmdir", name)
        await self._keep_reserved(who, caller, parent, name, "rmdir")
        share, path = self._child_path(parent, name)
        if parent == ROOT_INODE and self.restrict:
            if not who.is_admin:
                raise await self._deny(who, caller, "rmdir", share, path,
                                       AccessDenied("only administrators change the top level"))
            if self._share_named(name) is not None:
                raise await self._deny(who, caller, "rmdir", share, path, ShareBusy(
                    "a share's folder goes away only after `nasfs share del`"))
        self.fs.rmdir(parent, name, caller)
        await self._log(who, caller, "rmdir", share, path, admin=place.decision.admin)

    # -------------------------------------------------------------------- rename

    async def rename(self, p1: int, n1: bytes, p2: int, n2: bytes, flags: int,
                     caller: Caller) -> None:
        # Before anything moves to the trash: a refused flag must change nothing.
        check_rename_flags(flags)
        who = self.principal(caller)
        for parent, name in ((p1, n1), (p2, n2)):
            if self.snapshots.owns(parent):
                raise await self.snapshots.refuse(who, caller, parent, "rename", name)
        if p1 in self._virtual_share:
            await self._restore_by_rename(p1, n1, p2, n2, flags, who, caller)
            return
        share1, path1 = self._child_path(p1, n1)
        share2, path2 = self._child_path(p2, n2)
        if self.restrict:
            if (p1 == ROOT_INODE or p2 == ROOT_INODE) and not who.is_admin:
                raise await self._deny(who, caller, "rename", share1, path1,
                                       AccessDenied("only administrators change the top level"))
            if p2 in self._virtual_share:
                raise await self._deny(who, caller, "rename", share2, path2,
                                       AccessDenied("the trash folder is read-only"))
            await self._keep_reserved(who, caller, p1, n1, "rename")
            src = self.nodes.get(self.fs.repo.lookup(p1, n1) or 0)
            if src is None and self.fs.repo.lookup(p1, n1) is not None:
                src = self._node(p1, n1)  # judged, not kept: the kernel holds no reference
            if src is not None and not self._same_area(src, p2, self.nodes.get(p2)):
                raise await self._deny(who, caller, "rename", share1, path1,
                                       CrossShare("moves between shares are copies"))
            if p1 == ROOT_INODE and (self._share_named(n1) or self._share_named(n2)):
                raise await self._deny(who, caller, "rename", share1, path1, ShareBusy(
                    "share folders are renamed with the share, not with mv"))
        place1 = await self._need(who, caller, p1, True, "rename", n1)
        await self._need_create(who, caller, p2, n2, "rename")
        dst = self.fs.repo.lookup_attrs(p2, n2)
        src_a = self.fs.repo.lookup_attrs(p1, n1)
        detail = None
        replaced = (dst is not None and src_a is not None and not flags & (RENAME_EXCHANGE
                    | RENAME_NOREPLACE) and dst.ino != src_a.ino and not stat.S_ISDIR(dst.mode)
                    and not stat.S_ISDIR(src_a.mode))
        if replaced and dst is not None and _last_name(dst) and self._trash_on(place1):
            item = self._to_trash(p2, n2, share2, path2, who, "replaced")
            detail = f"replaced file to trash #{item.id}"
        self.fs.rename(p1, n1, p2, n2, flags, caller)
        if replaced and dst is not None and detail is None:
            self._name_gone(dst.ino, p2, n2)
        if src_a is not None:
            self._renamed(src_a.ino, p2, n2)
            if flags & RENAME_EXCHANGE and dst is not None:
                self._renamed(dst.ino, p1, n1)
        await self._log(who, caller, "rename", share1, path1, second=path2, detail=detail,
                        admin=place1.decision.admin)

    def _renamed(self, ino: int, parent: int, name: bytes) -> None:
        node = self.nodes.get(ino)
        if node is not None:
            node.parent, node.name = parent, name
            if parent == ROOT_INODE:
                share = self._share_named(name)
                node.share = share.name if share else None

    async def _restore_by_rename(self, vino: int, n1: bytes, p2: int, n2: bytes, flags: int,
                                 who: Principal, caller: Caller) -> None:
        share = self._virtual_share[vino]
        item = self._trash_item(vino, n1, who)
        if item is None or self.trash is None:
            raise errors.NotFound(f"{n1!r} is not in the trash")
        dst = self.nodes.get(p2)
        share2, path2 = self._child_path(p2, n2)
        if p2 == ROOT_INODE or dst is None or dst.share != share or p2 in self._virtual_share:
            raise await self._deny(who, caller, "restore", share, item.path,
                                   CrossShare("trash items go back into their own share"))
        if flags & RENAME_EXCHANGE:
            raise errors.InvalidArgument("trash items cannot be exchanged")
        place = await self._need_create(who, caller, p2, n2, "restore")
        existing = self.fs.repo.lookup_attrs(p2, n2)
        if existing is not None:
            if flags & RENAME_NOREPLACE:
                raise errors.AlreadyExists(f"{n2!r} already exists")
            if stat.S_ISDIR(existing.mode):
                raise errors.IsADirectory(f"{n2!r} is a directory")
            if _last_name(existing):
                self._to_trash(p2, n2, share2, path2, who, "replaced")
            else:  # its other names keep the data: this name simply goes
                self.fs.unlink(p2, n2, caller)
                self._name_gone(existing.ino, p2, n2)
        self.trash.restore_to(item, p2, n2, path2)
        node = self.nodes.get(item.ino)
        if node is not None:
            node.parent, node.name, node.trash, node.home = p2, n2, 0, dst.home
            node.via_trash = False
        await self._log(who, caller, "restore", share, item.path, second=path2,
                        admin=place.decision.admin, detail=f"trash #{item.id}")

    # ---------------------------------------------------------------- attributes

    async def setattr(self, ino: int, ch: AttrChanges, caller: Caller) -> Attributes:
        who = self.principal(caller)
        operation = ("truncate" if ch.size is not None else "chmod" if ch.mode is not None
                     else "chown" if ch.uid is not None or ch.gid is not None else "utimens")
        place = await self._need(who, caller, ino, True, operation)
        detail = ",".join(n for n, v in (("size", ch.size), ("mode", ch.mode), ("uid", ch.uid),
                                         ("gid", ch.gid), ("atime", ch.atime_ns),
                                         ("mtime", ch.mtime_ns)) if v is not None)
        if ch.size == 0:
            item = await self._keep_overwritten(who, ino, place)
            if item is not None:
                detail += f"; old content to trash #{item.id}"
        a = await self.fs.setattr(ino, ch, caller)
        share, path = self._path(ino)
        await self._log(who, caller, operation, share, path, admin=place.decision.admin,
                        detail=detail)
        return self._shown(who, a)

    async def _keep_overwritten(self, who: Principal, ino: int, place: _Place) -> TrashItem | None:
        """Before a truncation to zero: move the old content to the trash (if kept)."""
        if not self._trash_on(place) or place.share is None or not place.share.keep_overwritten:
            return None
        a = self.fs.getattr(ino)
        if not stat.S_ISREG(a.mode) or a.size == 0:
            return None
        from nasfs.trash.service import Deleter

        assert self.trash is not None
        _, path = self._path(ino)
        return await self.trash.keep_content(ino, place.share.name, path,
                                             Deleter(who.name, who.uid))

    async def readlink(self, ino: int, caller: Caller) -> bytes:
        who = self.principal(caller)
        if self.snapshots.owns(ino):
            return await self.snapshots.readlink(ino, who, caller)
        await self._need(who, caller, ino, False, "readlink")
        return self.fs.readlink(ino)

    # --------------------------------------------------------------------- files

    def _new_handle(self, h: Handle) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = h
        return fh

    async def open(self, ino: int, flags: int, caller: Caller) -> int:
        who = self.principal(caller)
        if self.snapshots.owns(ino):
            return self._new_handle(await self.snapshots.open(ino, flags, who, caller))
        writing = bool(flags & _WRITE_FLAGS)
        operation = "open-write" if writing else "open-read"
        place = await self._need(who, caller, ino, writing, operation)
        share, path = self._path(ino)
        detail = None
        if writing and flags & os.O_TRUNC:
            item = await self._keep_overwritten(who, ino, place)
            if item is not None:
                detail = f"old content to trash #{item.id}"
        await self.fs.open_file(ino, flags, caller)
        if detail is not None:
            await self._log(who, caller, "truncate", share, path, detail=detail,
                            admin=place.decision.admin)
        return self._new_handle(Handle(ino, who, share, path, place.decision.admin, operation,
                                       time.time_ns(), caller.pid))

    def handle(self, fh: int) -> Handle:
        h = self.handles.get(fh)
        if h is None:
            raise errors.InvalidArgument(f"file handle {fh} is not open")
        return h

    async def read(self, fh: int, off: int, size: int) -> bytes:
        h = self.handle(fh)
        if h.view is not None:
            data = await h.view.read(h.real_ino, off, size)
        else:
            data = await self.fs.read(h.ino, off, size)
        h.bytes += len(data)
        return data

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        h = self.handle(fh)
        n = await self.fs.write(h.ino, off, buf)
        h.bytes += n
        return n

    async def fsync(self, fh: int, datasync: bool) -> None:
        h = self.handle(fh)
        if h.view is None:  # snapshot content never has anything to sync
            await self.fs.fsync(h.ino, datasync)

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh, None)
        if h is None:
            return
        if h.view is None:
            await self.fs.release(h.ino)
        await self._log(h.who, Caller(h.who.uid, h.who.gid, h.pid), h.operation, h.share,
                        h.path, nbytes=h.bytes, admin=h.admin, time_ns=h.opened_ns)

    # --------------------------------------------------------------- directories

    async def opendir(self, ino: int, caller: Caller) -> int:
        who = self.principal(caller)
        if self.snapshots.owns(ino):
            return self._new_handle(await self.snapshots.opendir(ino, who, caller))
        place = await self._need(who, caller, ino, False, "opendir")
        vshare = self._virtual_share.get(ino)
        if vshare is None:
            self.fs.opendir(ino)
        share, path = self._path(ino) if vshare is None else (vshare, b"/" + TRASH_NAME)
        if (self.restrict and place.share is not None and place.share.homes
                and self._is_share_root(ino) and not who.is_guest and not who.is_admin
                and who.name):
            self._ensure_home(ino, who)
        if place.decision.admin:
            await self._log(who, caller, "opendir", share, path, admin=True)
        return self._new_handle(Handle(ino, who, share, path, place.decision.admin, "opendir",
                                       time.time_ns(), caller.pid, is_dir=True,
                                       virtual_share=vshare))

    def readdir(self, fh: int, after: int) -> list[Listed]:
        """The next entries after offset `after` that the handle's owner may see."""
        h = self.handle(fh)
        if h.virtual_share is not None:
            return self._readdir_trash(h, after)
        if h.view is not None or h.snapshot_folder is not None:
            return self.snapshots.readdir(h, after)
        share_root = self.restrict and self._is_share_root(h.ino)
        out: list[Listed] = []
        shift = 0
        if share_root:
            # Offsets 1 and 2 are `#trash` and `#snapshot`; real entries are shifted behind.
            shift = 2
            share = self.nodes[h.ino].share
            if after < 1 and share is not None:
                out.append(Listed(1, TRASH_NAME, self._virtual_attrs(self._trash_ino(share))))
            if after < 2 and share is not None:
                folder = self.snapshots.folder_ino(share)
                out.append(Listed(2, SNAPSHOT_NAME, self.snapshots.folder_attrs(folder)))
        place = self._place(h.who, h.ino)
        homes_root = share_root and place.share is not None and place.share.homes
        cursor = max(after - shift, 0)
        pending = self._pending(h)
        while True:
            batch = self.fs.readdir(h.ino, cursor)
            if not batch:
                return out
            for entry_id, name, a in batch:
                cursor = entry_id
                if self.restrict and not h.who.is_admin:
                    if h.ino == ROOT_INODE and not self._root_visible(h.who, name):
                        continue
                    if homes_root and name != (h.who.name or "").encode():
                        continue
                self._list_node(pending, h.ino, name, a)
                out.append(Listed(entry_id + shift, name, self._shown(h.who, a)))
            if out:
                return out

    def _root_visible(self, who: Principal, name: bytes) -> bool:
        share = self._share_named(name)
        if share is None:
            return False
        return not share.hidden or self._decide(who, share, None).can_read

    def _readdir_trash(self, h: Handle, after: int) -> list[Listed]:
        assert h.virtual_share is not None and self.trash is not None
        out = []
        pending = self._pending(h)
        for item in self._visible_items(h.virtual_share, h.who):
            if item.id <= after:
                continue
            try:
                a = self.fs.getattr(item.ino)
            except NasfsError:
                continue
            self._list_node(pending, h.ino, _display(item), a, trash=item.id)
            out.append(Listed(item.id, _display(item), a))
        return out

    def listed(self, fh: int, entry: Listed) -> None:
        """The kernel took `entry` from a readdirplus reply: it holds a reference now."""
        h = self.handles.get(fh)
        ino = entry.attrs.ino
        if ino < VIRTUAL_BASE:
            self.fs.remember(ino)
            node = h.pending.pop(ino, None) if h is not None and h.pending else None
            if node is not None:
                self.nodes[ino] = node
        elif h is not None:
            self.snapshots.listed(h, ino)

    def releasedir(self, fh: int) -> None:
        self.handles.pop(fh, None)

    async def fsyncdir(self, fh: int) -> None:
        h = self.handle(fh)
        if h.view is None and h.snapshot_folder is None and h.virtual_share is None:
            await self.fs.fsyncdir(h.ino)

    # -------------------------------------------------------------------- xattrs

    async def getxattr(self, ino: int, name: bytes, caller: Caller) -> bytes:
        if self.snapshots.owns(ino):
            return await self.snapshots.getxattr(ino, name, self.principal(caller), caller)
        if ino >= VIRTUAL_BASE:
            raise errors.NoSuchAttribute("no such attribute")
        await self._need(self.principal(caller), caller, ino, False, "getxattr")
        return self.fs.getxattr(ino, name)

    async def listxattr(self, ino: int, caller: Caller) -> list[bytes]:
        if self.snapshots.owns(ino):
            return await self.snapshots.listxattr(ino, self.principal(caller), caller)
        if ino >= VIRTUAL_BASE:
            return []
        await self._need(self.principal(caller), caller, ino, False, "listxattr")
        return self.fs.listxattr(ino)

    async def setxattr(self, ino: int, name: bytes, value: bytes, caller: Caller) -> None:
        if name in _ACL_XATTRS:
            raise AclsNotSupported("POSIX ACLs are not supported; use the mode bits")
        who = self.principal(caller)
        place = await self._need(who, caller, ino, True, "setxattr")
        self.fs.setxattr(ino, name, value, caller)
        share, path = self._path(ino)
        await self._log(who, caller, "setxattr", share, path, detail=name.decode(
            "utf-8", "replace"), admin=place.decision.admin)

    async def removexattr(self, ino: int, name: bytes, caller: Caller) -> None:
        who = self.principal(caller)
        place = await self._need(who, caller, ino, True, "removexattr")
        self.fs.removexattr(ino, name, caller)
        share, path = self._path(ino)
        await self._log(who, caller, "removexattr", share, path, detail=name.decode(
            "utf-8", "replace"), admin=place.decision.admin)

    def invalidate(self, parent: int, name: bytes) -> None:
        """Drop the kernel's cached entry (e.g. a negative one) for a name changed behind
        its back, such as a file restored through the control socket."""
        if not self.restrict:
            return
        try:
            import pyfuse3

            pyfuse3.invalidate_entry_async(parent, name, ignore_enoent=True)
        except Exception as exc:  # not mounted (tests, offline): nothing is cached
            log.debug("could not invalidate %r in %d: %s", name, parent, exc)

    # ---------------------------------------------------------------------- shares

    def ensure_share_folder(self, share: ShareRecord) -> None:
        """Create the top-level folder of `share` if it has none (mode `dir_mode`, default
        0777: the ACL gates, then ordinary permissions apply inside; group `force_group`)."""
        name = share.name.encode()
        if self.fs.repo.lookup(ROOT_INODE, name) is not None:
            return
        gid = 0
        if share.force_group is not None and self.policy is not None:
            group = self.policy.snapshot.groups.get(share.force_group)
            gid = group.gid if group is not None else 0
        mode = share.dir_mode if share.dir_mode is not None else 0o777
        a = self.fs.mkdir(ROOT_INODE, name, mode, Caller(0, gid, 0, 0))
        self.fs.forget(a.ino, 1)
        log.info("created the folder of share %s", share.name)

    def ensure_all_share_folders(self) -> None:
        if self.policy is not None:
            for share in self.policy.snapshot.shares.values():
                self.ensure_share_folder(share)


__all__ = ["RESERVED_NAMES", "SNAPSHOT_NAME", "VIRTUAL_BASE", "Gate", "Handle", "Listed",
           "Node"]
