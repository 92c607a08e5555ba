"""The policy gate between the FUSE adapter and the filesystem: it picks the namespace that
owns the inode a request names, hands it the caller's principal, and logs what ends.

Namespaces (namespace.py) by inode number range (inodes.py): the live tree (live.py, changes
in live_changes.py), the `#trash` folders (trash_folder.py) and the `#snapshot` folders and
what is below them (snapshot_folder.py). They all judge and log through one `Judge`
(judge.py), so every refusal is logged. Identity and cached decisions are decisions.py, the
inode -> share map nodemap.py, log paths logpaths.py, kernel cache timeouts timeouts.py,
home folders homes.py, share folders share_folders.py, process names procnames.py,
handles handles.py.

Shadowing relies on three things working together (docs/policy.md, "The FUSE gate"): the
root directory, share roots, `homes/<owner>` folders and `#trash` entries get zero kernel
cache timeouts, so every path walk through them asks us again as the walker; share roots and
home folders are shown to each caller with the permission bits they may use (no access:
000), so the kernel's own `default_permissions` check refuses entering them; and every
request that names an inode directly (open, create, unlink, setattr, ...) is checked here.

Without a policy (`policy=None`: test mounts and benchmarks of the bare filesystem) every
caller is allowed everything, nothing is logged or trashed, and caches keep their timeouts.

Concurrency: runs on the trio thread like `Filesystem`; code between two awaits is atomic.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from nasfs.fs import (
    ROOT_INODE,
    AttrChanges,
    Attributes,
    Caller,
    Filesystem,
    check_rename_flags,
    errors,
)
from nasfs.policy.gate.denials import AclsNotSupported, SnapshotReadOnly
from nasfs.policy.gate.handles import FileHandle, Handle, Listed, SnapshotFileHandle
from nasfs.policy.gate.inodes import (
    RANGE_STARTS,
    SNAPSHOT_FOLDERS,
    TRASH_FOLDERS,
    VIRTUAL_BASE,
    FolderNumbers,
)
from nasfs.policy.gate.judge import Judge, Where
from nasfs.policy.gate.live import LiveTree
from nasfs.policy.gate.live_changes import LiveChanges
from nasfs.policy.gate.live_rules import LiveRules
from nasfs.policy.gate.logpaths import LivePaths
from nasfs.policy.gate.namespace import Namespace
from nasfs.policy.gate.nodemap import Node, NodeMap
from nasfs.policy.gate.real_names import wanted_name
from nasfs.policy.gate.share_folders import ensure_share_folder
from nasfs.policy.gate.snapshot_folder import SnapshotFolders
from nasfs.policy.gate.trash_folder import TrashFolders
from nasfs.policy.gate.trash_moves import TrashMoves
from nasfs.policy.records import ShareRecord

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService
    from nasfs.trash import Trash

log = logging.getLogger(__name__)

# POSIX ACLs are not enforced on this mount (the kernel is not asked to), so storing them as
# plain xattrs would promise a protection that is not there, and tools that copy them (cp -a)
# would leave the mode bits they expected the ACL to set. Refused, such tools use the modes.
_ACL_XATTRS = frozenset({b"system.posix_acl_access", b"system.posix_acl_default"})


class Gate:
    """See the module docstring."""

    def __init__(self, fs: Filesystem, policy: PolicyService | None,
                 trash: Trash | None = None) -> None:
        self.fs = fs
        self.policy = policy
        self.trash = trash
        self.restrict = policy is not None
        self.judge = Judge(policy)
        started_ns = time.time_ns()
        self.handles: dict[int, Handle] = {}
        self._next_fh = 1
        trash_numbers = FolderNumbers(TRASH_FOLDERS, SNAPSHOT_FOLDERS)
        self._nodes = NodeMap(self.judge, trash_numbers)
        self.nodes: dict[int, Node] = self._nodes.nodes
        moves = TrashMoves(fs, trash, self._nodes, trash_numbers)
        paths = LivePaths(self._nodes, moves.item)
        self.snapshots = SnapshotFolders(fs, self.judge, started_ns)
        rules = LiveRules(self.judge, self._nodes, moves,
                          frozenset({TrashFolders.name, SnapshotFolders.name}), self.where,
                          trash_numbers.__contains__)
        self.changes = LiveChanges(fs, self.judge, self._nodes, paths, rules, moves)
        self.trash_folders = TrashFolders(fs, self.judge, trash_numbers, self._nodes, paths,
                                          rules, moves, self.changes, started_ns)
        self.live = LiveTree(fs, self.judge, self._nodes, paths, rules, moves,
                             (self.trash_folders, self.snapshots))
        # One namespace per range of inodes.RANGE_STARTS (the live tree before the first).
        self._spaces: tuple[Namespace, ...] = (self.live, self.trash_folders, self.snapshots)
        assert len(self._spaces) == len(RANGE_STARTS) + 1

    def _space(self, ino: int) -> Namespace:
        """The namespace that owns inode number `ino`: the one place requests are routed."""
        return self._spaces[bisect_right(RANGE_STARTS, ino)]

    def where(self, ino: int, name: bytes | None = None) -> Where:
        """(share, path inside it) of inode `ino` or its entry `name`, for the log."""
        return self._space(ino).where(ino, name)

    # ---------------------------------------------------------- kernel caches

    def timeouts(self, ino: int) -> tuple[float, float]:
        """(entry, attribute) timeouts the kernel may cache an entry of `ino` for."""
        return self._space(ino).timeouts(ino)

    def negative_timeout(self, parent: int) -> float:
        """How long the kernel may remember that a name is missing in `parent`."""
        return self._space(parent).negative_timeout(parent)

    def blocks(self, a: Attributes) -> int:
        """st_blocks of attributes this gate returned."""
        return self._space(a.ino).blocks(a)

    def forget(self, inodes: Iterable[tuple[int, int]]) -> None:
        for ino, n in inodes:
            self._space(ino).forget(ino, n)

    # ------------------------------------------------------------ reading names

    async def lookup(self, parent: int, name: bytes, caller: Caller) -> Attributes | None:
        """Attributes of `name` in `parent`, or None (absent, or shadowed for the caller)."""
        return await self._space(parent).lookup(parent, name, self.judge.principal(caller),
                                                caller)

    async def getattr(self, ino: int, caller: Caller) -> Attributes:
        return await self._space(ino).getattr(ino, self.judge.principal(caller), caller)

    async def readlink(self, ino: int, caller: Caller) -> bytes:
        return await self._space(ino).readlink(ino, self.judge.principal(caller), caller)

    async def getxattr(self, ino: int, name: bytes, caller: Caller) -> bytes:
        wanted = wanted_name(name)
        if wanted is not None:  # smbd asking for a name in another case (real_names.py)
            if ino == ROOT_INODE or self._space(ino) is not self.live:
                raise errors.NotSupported("names in another case are found by listing here")
            return await self.live.real_name(ino, wanted, self.judge.principal(caller), caller)
        return await self._space(ino).getxattr(ino, name, self.judge.principal(caller), caller)

    async def listxattr(self, ino: int, caller: Caller) -> list[bytes]:
        return await self._space(ino).listxattr(ino, self.judge.principal(caller), caller)

    # ------------------------------------------------------------------ changes
    # Read-only namespaces refuse (logged); the live tree's changes are LiveChanges.

    async def _refused(self, ino: int, caller: Caller, operation: str,
                       name: bytes | None = None) -> None:
        """Raise the logged refusal if `ino`'s namespace is a read-only one."""
        space = self._space(ino)
        if space is not self.live:
            refusal = await space.refuse(self.judge.principal(caller), caller, ino, operation,
                                         name)
            if refusal is not None:
                raise refusal

    async def setattr(self, ino: int, ch: AttrChanges, caller: Caller) -> Attributes:
        operation = ("truncate" if ch.size is not None else "chmod" if ch.mode is not None
                     else "chown" if ch.uid is not None or ch.gid is not None else "utimens")
        await self._refused(ino, caller, operation)
        return await self.changes.setattr(ino, ch, self.judge.principal(caller), caller)

    async def setxattr(self, ino: int, name: bytes, value: bytes, caller: Caller) -> None:
        if name in _ACL_XATTRS:
            raise AclsNotSupported("POSIX ACLs are not supported; use the mode bits")
        await self._refused(ino, caller, "setxattr")
        await self.changes.setxattr(ino, name, value, self.judge.principal(caller), caller)

    async def removexattr(self, ino: int, name: bytes, caller: Caller) -> None:
        await self._refused(ino, caller, "removexattr")
        await self.changes.removexattr(ino, name, self.judge.principal(caller), caller)

    async def mknod(self, parent: int, name: bytes, mode: int, rdev: int,
                    caller: Caller) -> Attributes:
        await self._refused(parent, caller, "mknod", name)
        return await self.changes.mknod(parent, name, mode, rdev, self.judge.principal(caller),
                                        caller)

    async def mkdir(self, parent: int, name: bytes, mode: int, caller: Caller) -> Attributes:
        await self._refused(parent, caller, "mkdir", name)
        return await self.changes.mkdir(parent, name, mode, self.judge.principal(caller),
                                        caller)

    async def symlink(self, parent: int, name: bytes, target: bytes,
                      caller: Caller) -> Attributes:
        await self._refused(parent, caller, "symlink", name)
        return await self.changes.symlink(parent, name, target, self.judge.principal(caller),
                                          caller)

    async def create(self, parent: int, name: bytes, mode: int, flags: int,
                     caller: Caller) -> tuple[int, Attributes]:
        await self._refused(parent, caller, "create", name)
        h, a = await self.changes.create(parent, name, mode, self.judge.principal(caller),
                                         caller)
        return self._new_handle(h), a

    async def link(self, ino: int, parent: int, name: bytes, caller: Caller) -> Attributes:
        await self._refused(ino, caller, "link")
        await self._refused(parent, caller, "link", name)
        return await self.changes.link(ino, parent, name, self.judge.principal(caller), caller)

    async def unlink(self, parent: int, name: bytes, caller: Caller) -> None:
        await self._refused(parent, caller, "delete", name)
        await self.changes.unlink(parent, name, self.judge.principal(caller), caller)

    async def rmdir(self, parent: int, name: bytes, caller: Caller) -> None:
        await self._refused(parent, caller, "rmdir", name)
        await self.changes.rmdir(parent, name, self.judge.principal(caller), caller)

    async def rename(self, p1: int, n1: bytes, p2: int, n2: bytes, flags: int,
                     caller: Caller) -> None:
        # Before anything moves to the trash: a refused flag must change nothing.
        check_rename_flags(flags)
        who = self.judge.principal(caller)
        for parent, name in ((p1, n1), (p2, n2)):
            if self._space(parent) is self.snapshots:
                await self._refused(parent, caller, "rename", name)
        if self._space(p1) is self.trash_folders:
            await self.trash_folders.restore(p1, n1, p2, n2, flags, who, caller)
            return
        await self.changes.rename(p1, n1, p2, n2, flags, who, caller)

    # -------------------------------------------------------------------- files

    def _new_handle(self, h: Handle) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = h
        return fh

    def handle(self, fh: int) -> Handle:
        h = self.handles.get(fh)
        if h is None:
            raise errors.InvalidArgument(f"file handle {fh} is not open")
        return h

    async def open(self, ino: int, flags: int, caller: Caller) -> int:
        space = self._space(ino)
        return self._new_handle(await space.open(ino, flags, self.judge.principal(caller),
                                                 caller))

    async def read(self, fh: int, off: int, size: int) -> bytes:
        h = self.handle(fh)
        if type(h) is FileHandle:
            data = await self.fs.read(h.ino, off, size)
        elif isinstance(h, SnapshotFileHandle):
            data = await h.view.read(h.real_ino, off, size)
        else:
            raise errors.IsADirectory(f"file handle {fh} is a folder's")
        h.bytes += len(data)
        return data

    def _file(self, fh: int) -> FileHandle:
        """A live file's handle: the only kind that is written or synced."""
        h = self.handle(fh)
        if type(h) is not FileHandle:
            raise errors.InvalidArgument(f"file handle {fh} is not open on the live tree")
        return h

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        h = self._file(fh)
        n = await self.fs.write(h.ino, off, buf)
        h.bytes += n
        return n

    async def fallocate(self, fh: int, mode: int, off: int, length: int) -> None:
        """fallocate(2) is a write: on a live file's handle opened for writing (whose open
        passed the write checks), never in a snapshot; logged with what it did."""
        h = self.handle(fh)
        if isinstance(h, SnapshotFileHandle):  # the kernel refuses read-only descriptors
            raise await self.judge.deny(h.who, Caller(h.who.uid, h.who.gid, h.pid),
                                        "fallocate", (h.share, h.path), SnapshotReadOnly,
                                        "snapshots are read-only")
        h = self._file(fh)
        if h.operation == "open-read":
            raise errors.BadDescriptor("the file is not open for writing")
        await self.fs.fallocate(h.ino, mode, off, length)
        await self.judge.log(h.who, Caller(h.who.uid, h.who.gid, h.pid), "fallocate",
                             (h.share, h.path), admin=h.admin,
                             detail=f"mode={mode:#x} offset={off} length={length}")

    def seek(self, fh: int, off: int, whence: int) -> int:
        """lseek(2) SEEK_DATA / SEEK_HOLE: live records, or those a snapshot stored."""
        h = self.handle(fh)
        if isinstance(h, SnapshotFileHandle):
            return h.view.seek(h.real_ino, off, whence)
        return self.fs.seek(self._file(fh).ino, off, whence)

    async def fsync(self, fh: int, datasync: bool) -> None:
        h = self.handle(fh)
        if type(h) is FileHandle:  # snapshot content never has anything to sync
            await self.fs.fsync(h.ino, datasync)

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh, None)
        if h is None:
            return
        if type(h) is FileHandle:
            await self.fs.release(h.ino)
        await self.judge.log(h.who, Caller(h.who.uid, h.who.gid, h.pid), h.operation,
                             (h.share, h.path), nbytes=h.bytes, admin=h.admin,
                             time_ns=h.opened_ns)

    # -------------------------------------------------------------- directories

    async def opendir(self, ino: int, caller: Caller) -> int:
        space = self._space(ino)
        return self._new_handle(await space.opendir(ino, self.judge.principal(caller), caller))

    def readdir(self, fh: int, after: int) -> list[Listed]:
        """The next entries after offset `after` that the handle's owner may see."""
        h = self.handle(fh)
        return self._space(h.ino).readdir(h, after)

    def listed(self, fh: int, entry: Listed) -> None:
        """The kernel took `entry` from a readdirplus reply: it holds a reference now."""
        ino = entry.attrs.ino
        self._space(ino).listed(self.handles.get(fh), ino)

    def listed_batch(self, fh: int, entries: Sequence[Listed]) -> None:
        """`listed` of every entry of `entries`, the volume's own in one go."""
        h = self.handles.get(fh)
        live: list[int] = []
        for entry in entries:
            ino = entry.attrs.ino
            if ino < VIRTUAL_BASE:
                live.append(ino)
            else:
                self._space(ino).listed(h, ino)
        if live:
            self.live.listed_many(h, live)

    def releasedir(self, fh: int) -> None:
        self.handles.pop(fh, None)

    async def fsyncdir(self, fh: int) -> None:
        h = self.handle(fh)
        if self._space(h.ino) is self.live:
            await self.fs.fsyncdir(h.ino)

    # ------------------------------------------------------- behind the kernel

    def kernel_inodes(self) -> list[int]:
        """The inodes below the root the kernel may hold cached attributes of: the live
        tree's and the snapshots' (the virtual folders' attributes live 1 s at most).
        Copied at once, so another thread may walk the list while this one serves."""
        return [*self.nodes, *self.snapshots.nodes]

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

    async def forget_now(self, parent: int, name: bytes) -> None:
        """As `invalidate`, but done when this returns: an answer sent afterwards (a trash
        restore) reaches a client whose very next lookup must find the name. The kernel
        call blocks, so a worker thread makes it while this loop goes on serving requests
        (the kernel may need one to finish first)."""
        if not self.restrict:
            return
        try:
            import pyfuse3
            import trio

            await trio.to_thread.run_sync(pyfuse3.invalidate_entry, parent, name)
        except Exception as exc:  # not cached (ENOENT), not mounted: nothing to forget
            log.debug("could not invalidate %r in %d: %s", name, parent, exc)

    def ensure_share_folder(self, share: ShareRecord) -> None:
        ensure_share_folder(self.fs, self.policy, share)

    def ensure_all_share_folders(self) -> None:
        if self.policy is not None:
            for share in self.policy.snapshot.shares.values():
                ensure_share_folder(self.fs, self.policy, share)
