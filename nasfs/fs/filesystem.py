"""The POSIX namespace and file data of one volume, on the metadata database and the store.

`Filesystem` is what the FUSE adapter (and later the policy layer) calls. Methods take inode
numbers and byte names, return `Attributes`, and raise `FsError` subclasses carrying the
errno a native filesystem gives. Permission checks are the kernel's (`default_permissions`);
this layer keeps the rules the kernel leaves to filesystems: setgid directory inheritance,
link counts, times, orphan lifetime, NAME_MAX, rename semantics.

Split by job: the class keeps the state, lookups, creating and removing names,
attributes, file I/O and xattrs; mounting, commits, the group commit, the fail-safe's way
back and closing are nasfs.fs.commits; renames are nasfs.fs.rename, nameless inodes for the
trash nasfs.fs.unnamed, fallocate and SEEK_DATA/SEEK_HOLE nasfs.fs.allocate, the values
requests carry nasfs.fs.values (re-exported here). Its methods of those names call them.

Why it is still over 600 lines: what is left is the POSIX namespace over one shared state
(the open transaction, the generation, the kernel-reference counts and orphans, the
fail-safe switch); every mutating method checks the fail-safe and touches the same
transaction, so the namespace operations stay together as one class's methods.

Durability and failed commits: see nasfs.fs.commits. No change is acknowledged that will
not persist; repeated failed commits turn the volume read-only (nasfs.fs.failsafe):
changes answer EROFS, reads go on.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio
from sqlite_utils.migrations import Migrations

from nasfs.errors import NasfsError
from nasfs.fs import allocate, commits, errors, rename, unnamed
from nasfs.fs.data import ChunkStore, DataPath
from nasfs.fs.failsafe import FailSafe
from nasfs.fs.rename import (
    RENAME_EXCHANGE,
    RENAME_FLAGS,
    RENAME_NOREPLACE,
    RENAME_WHITEOUT,
    check_rename_flags,
)
from nasfs.fs.repository import Attributes, MetadataDB, Repository
from nasfs.fs.schema import MIGRATIONS, ROOT_INODE
from nasfs.fs.snapshot_view import SnapshotView
from nasfs.fs.snapshots import SnapshotManager
from nasfs.fs.sparse import allocated_blocks
from nasfs.fs.values import (
    DEFAULT_RECORD_SIZE,
    NAME_MAX,
    ROOT_CALLER,
    AttrChanges,
    Caller,
    FsStats,
    Tuning,
    check_name,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RECORD_SIZE", "NAME_MAX", "RENAME_EXCHANGE", "RENAME_FLAGS", "RENAME_NOREPLACE",
    "RENAME_WHITEOUT", "ROOT_CALLER", "AttrChanges", "Caller", "Filesystem", "FsStats",
    "Tuning", "check_rename_flags",
]


class Filesystem:
    """One mounted volume's namespace and data (see module docstring)."""

    def __init__(self, db: MetadataDB, store: ChunkStore, tuning: Tuning) -> None:
        self.db = db
        self.store = store
        self.repo = Repository(db)
        record_size = int(self.repo.get_meta("record_size", tuning.record_size))
        self.tuning = tuning
        self.data = DataPath(
            self.repo,
            store,
            record_size=record_size,
            flush_batch=tuning.flush_batch,
            max_dirty=tuning.max_dirty,
            cache_bytes=tuning.cache_bytes,
        )
        # Kernel lookup counts: an unlinked inode lives while the kernel still knows it.
        self._lookups: dict[int, int] = {}
        self._open: dict[int, int] = {}
        # Unnamed directories (`make_unnamed_dir`, e.g. the trash): their entries are names
        # no user can reach, so they do not count in st_nlink. A file whose last name moved
        # there shows nlink 0, as after any unlink, yet lives on while that entry exists.
        self._uncounted: set[int] = set()
        self._closed = False
        # The nursery of run_group_commit while it runs: full batches are flushed there in
        # the background. None (no mount serving): writes flush their batches themselves.
        self._background: trio.Nursery | None = None
        self.snapshots = SnapshotManager(self)
        # Live inodes for statfs, counted again after the namespace gained or lost one.
        self._inodes: int | None = None
        # Read-only fail-safe state after repeated failed commits.
        self.failsafe = FailSafe()
        # A transaction was rolled back after its flushes had stored chunks: the store
        # counts references no row names, so the next mount recounts (the volume is left
        # unclean at close).
        self._recount_at_mount = False
        listeners = getattr(db, "abort_listeners", None)
        if listeners is not None:
            listeners.append(lambda exc: commits.metadata_aborted(self, exc))
        # Told (entries, inodes) after a failed commit undid changes the kernel may have
        # cached: the FUSE adapter makes it forget them (nasfs.fuse.serve).
        self.changes_undone: list[Callable[[set[tuple[int, bytes]], set[int]], None]] = []

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        store: ChunkStore,
        db_dirs: Sequence[Path] | None = None,
        *,
        nparity: int | None = None,
        events: object = None,
        tuning: Tuning | None = None,
        extra_migrations: Sequence[Migrations] = (),
    ) -> Filesystem:
        """Open the volume's namespace (creating the root directory on first open).

        `db_dirs` default to `MEMBER/nasfs/db` of the store's present members and `nparity`
        to the store's, so `fs.db` sits beside `store.db` on every member. After an unclean
        shutdown, orphans are purged and store references are recounted (`reconcile`).
        `extra_migrations`: tables other layers keep in fs.db (e.g. the trash), so they
        commit in the same transactions as the namespace they describe.
        Raises nasfs.db.MetadataLostError when no copy of fs.db is usable.
        """
        from nasfs.db import ReplicatedDB

        present = getattr(store, "present", {})
        if db_dirs is None:
            db_dirs = [Path(present[i]) / "nasfs" / "db" for i in sorted(present)]
        if nparity is None:
            nparity = int(getattr(store, "nparity", 1))
        label = getattr(store, "label", None)
        db = ReplicatedDB.open(
            "fs",
            list(db_dirs),
            sync_copies=nparity + 1,
            migrations=[MIGRATIONS, *extra_migrations],
            identity=getattr(label, "array_uuid", None),
            events=events,  # type: ignore[arg-type]
            # Copies only on members the store still vouches for (nasfs.store.member).
            copy_ok=getattr(store, "copy_ok", None),
        )
        try:
            fs = cls(db, store, tuning or Tuning())
            commits.mount(fs)
        except BaseException:
            db.close()
            raise
        return fs

    async def commit(self) -> None:
        """Flush every dirty record and commit durably; then release freed chunks."""
        await commits.commit_durable(self)

    async def retry_writes(self) -> None:
        """Leave the read-only state if a durable commit works again (the cause was fixed);
        CommitFailed if it still does not (the state stays)."""
        await commits.retry_writes(self)

    async def flush_all(self, durable: bool) -> None:
        if durable:
            await commits.commit_durable(self)
        else:
            await commits.commit_when_quiet(self, durable=False)

    async def run_group_commit(self) -> None:
        """Commit unsynced changes every `commit_interval` seconds until cancelled; while it
        runs, full flush batches are put in the background (nasfs.fs.commits)."""
        await commits.run_group_commit(self)

    async def close(self) -> None:
        """Flush everything, mark the volume clean, and close the database; CloseFailed when
        the last changes could not be saved (nasfs.fs.commits.close says what is kept)."""
        await commits.close(self)

    def statfs(self) -> FsStats:
        """df's figures: usable space after parity and the space reserve (nasfs.store.space),
        free space as writes will find it (buffered data counted), and inode figures from
        the space a name takes (nasfs.store.space.NAME_COST_PER_MEMBER). statvfs of the
        members only: df must be cheap."""
        fig = self.store.space.figures()
        bsize = 4096
        # Neither reserve is part of the live size: the space reserve belongs to metadata
        # and cleanup, the snapshot reserve to snapshots (nasfs.fs.snapshots).
        total, free = self.snapshots.live_capacity(
            fig.usable_bytes - fig.reserve_bytes, fig.free_bytes)
        if self._inodes is None:
            self._inodes = self.repo.live_inode_count()
        used = self._inodes
        # As ext4: a fixed inode total (what the space for files would hold), free = total
        # less those in use, but never more than still fit now.
        files = max(fig.names_total, used)
        return FsStats(bsize, total // bsize, free // bsize, free // bsize,
                       files, min(fig.names_free, files - used))

    def snapshot_view(self, snapshot_id: int) -> SnapshotView:
        """The tree at a snapshot, read-only; NotFound (ENOENT) for an unknown id."""
        return self.snapshots.view(snapshot_id)

    # --------------------------------------------------------------- lookups

    def _remember(self, ino: int) -> None:
        self._lookups[ino] = self._lookups.get(ino, 0) + 1

    def remember(self, ino: int) -> None:
        """The kernel got a reference to `ino` (e.g. through readdirplus)."""
        self._remember(ino)

    def remember_many(self, inos: Sequence[int]) -> None:
        """`remember` of each of `inos` (a readdirplus reply's entries)."""
        lookups = self._lookups
        for ino in inos:
            lookups[ino] = lookups.get(ino, 0) + 1

    def forget(self, ino: int, nlookup: int) -> None:
        left = self._lookups.get(ino, 0) - nlookup
        if left > 0:
            self._lookups[ino] = left
            return
        self._lookups.pop(ino, None)
        a = self.repo.get_inode(ino)
        if a is not None and not self._open.get(ino) and self._nameless(a):
            self._purge(ino)

    def _counted(self, parent: int) -> int:
        """1 if an entry in directory `parent` counts as a link, 0 in unnamed directories."""
        return 0 if parent in self._uncounted else 1

    def _nameless(self, a: Attributes) -> bool:
        """No link counts and no uncounted entry names it either: it may go once unused."""
        return a.nlink == 0 and not (self._uncounted and self.repo.names_of(a.ino, 1))

    def _purge(self, ino: int) -> None:
        if self.failsafe.read_only:
            return  # an orphan of the disk's state: the next mount purges it
        self._inodes = None
        self.data.discard(ino)
        self.data.release_after_commit += self.repo.delete_inode(ino)

    def _unlinked(self, a: Attributes) -> None:
        """`a` lost its last name: purge it now or keep it as an orphan while referenced."""
        if self._lookups.get(a.ino) or self._open.get(a.ino):
            self.repo.add_orphan(a.ino)
        else:
            self._purge(a.ino)

    def lookup(self, parent: int, name: bytes, caller: Caller) -> Attributes | None:
        """Attributes of `name` in `parent` (remembered by the kernel), or None if absent."""
        check_name(name)
        a = self.repo.lookup_attrs(parent, name)
        if a is None:
            if parent not in self._lookups:
                # A directory the kernel holds a reference on exists (its rows stay until
                # it is forgotten) and is one (the kernel looks up only in directories):
                # only other parents are checked, for the error a bad one deserves.
                self._dir(parent)
            return None
        self._remember(a.ino)
        return a

    # Lookups for work the kernel does not ask for (the policy gate's checks, the trash,
    # restores): they take no kernel reference, so nothing has to be forgotten after them.

    def entry_names(self, parent: int) -> list[bytes]:
        """The names in directory `parent` (no kernel reference is taken)."""
        self._dir(parent)
        return self.repo.entry_names(parent)

    def peek(self, parent: int, name: bytes) -> Attributes | None:
        """Attributes of entry `name` of `parent`, or None; no kernel reference is taken."""
        return self.repo.lookup_attrs(parent, name)

    def names_of(self, ino: int, limit: int = 2) -> list[tuple[int, bytes]]:
        """Up to `limit` live entries (parent, name) that name `ino`."""
        return self.repo.names_of(ino, limit)

    def resolve(self, path: bytes, start: int = ROOT_INODE) -> Attributes | None:
        """The inode at `/`-separated `path` below `start` (None if a part is missing);
        no kernel reference is taken."""
        a = self.getattr(start)
        for part in path.split(b"/"):
            if part:
                found = self.repo.lookup_attrs(a.ino, part)
                if found is None:
                    return None
                a = found
        return a

    @property
    def changes(self) -> int:
        """A stamp that moves with every change of the metadata (any write statement, any
        rollback): while it stays the same, every lookup answers as it did."""
        return self.db.changes

    def side_write(self, sql: str, params: Any = ()) -> Any:
        """A write statement of another module on its own table in fs.db (the trash's
        items): it changes no row of the filesystem's tables, so the inode rows kept in
        memory stay (nasfs.fs.inode_rows; other writes on fs.db empty them)."""
        return self.repo.side_write(sql, params)

    @property
    def top_changes(self) -> tuple[int, int]:
        """A stamp that moves with every change of an entry of the root, of the inode rows
        `watch_top` named, and with every rollback: while it stays the same, a lookup in
        the root of a name whose inode is watched answers as it did."""
        return (self.repo.top_changes, self.db.rollbacks)

    def watch_top(self, ino: int) -> None:
        """Let changes of inode `ino`'s row move `top_changes` (a share folder whose
        lookup is answered from memory); not undone, as the root holds few entries."""
        self.repo.top_inodes.add(ino)

    def lookup_count(self, ino: int) -> int:
        """How many references the kernel holds on `ino` (0: it forgot the inode)."""
        return self._lookups.get(ino, 0)

    def blocks(self, a: Attributes) -> int:
        """st_blocks (512-byte units) of inode `a`: for files what their records hold, so
        holes and never-written ranges count nothing (nasfs.fs.sparse)."""
        if stat.S_ISREG(a.mode):
            return allocated_blocks(self.data, a.ino)
        return (a.size + 511) // 512

    def getattr(self, ino: int) -> Attributes:
        a = self.repo.get_inode(ino)
        if a is None:
            raise errors.NotFound(f"inode {ino} does not exist")
        return a

    def _dir(self, ino: int) -> Attributes:
        a = self.getattr(ino)
        if not stat.S_ISDIR(a.mode):
            raise errors.NotADirectory(f"inode {ino} is not a directory")
        return a

    def _touch_dir(self, d: Attributes, now: int, nlink_delta: int = 0) -> None:
        d.mtime_ns = d.ctime_ns = now
        d.nlink += nlink_delta
        self.repo.update_inode(d)

    # -------------------------------------------------------------- creating

    def _admit_name(self) -> None:
        """NoSpace (ENOSPC) when the array is full outside the reserve: new names (files,
        folders, links, attributes) must not eat the reserve that deletions need."""
        try:
            self.store.space.admit_names()
        except NasfsError as exc:
            raise errors.NoSpace(str(exc)) from None

    def _new_inode(
        self, parent: int, name: bytes, mode: int, caller: Caller, rdev: int = 0
    ) -> tuple[Attributes, Attributes]:
        self.failsafe.check_writable()
        check_name(name)
        d = self._dir(parent)
        if self.repo.lookup(parent, name) is not None:
            raise errors.AlreadyExists(f"{name!r} already exists in directory {parent}")
        self._admit_name()
        gid = caller.gid
        if d.mode & stat.S_ISGID:
            # BSD group semantics of setgid directories, as ext4.
            gid = d.gid
            if stat.S_ISDIR(mode):
                mode |= stat.S_ISGID
        now = time.time_ns()
        nlink = 2 if stat.S_ISDIR(mode) else 1
        a = Attributes(
            self.repo.allocate_ino(), mode, caller.uid, gid, nlink, 0, rdev, now, now, now, now
        )
        self.repo.insert_inode(a)
        self._inodes = None
        self.repo.insert_dentry(parent, name, a.ino)
        self._touch_dir(d, now, 1 if stat.S_ISDIR(mode) else 0)
        self._remember(a.ino)
        return a, d

    def mknod(self, parent: int, name: bytes, mode: int, rdev: int, caller: Caller) -> Attributes:
        if stat.S_IFMT(mode) == 0:
            mode |= stat.S_IFREG
        if stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
            raise errors.InvalidArgument("mknod cannot make directories or symbolic links")
        return self._new_inode(parent, name, mode, caller, rdev)[0]

    def mkdir(self, parent: int, name: bytes, mode: int, caller: Caller) -> Attributes:
        return self._new_inode(parent, name, stat.S_IFDIR | (mode & 0o7777), caller)[0]

    def create(self, parent: int, name: bytes, mode: int, caller: Caller) -> Attributes:
        """Create and open a regular file (O_EXCL is implied: the kernel checked absence)."""
        a = self._new_inode(parent, name, stat.S_IFREG | (mode & 0o7777), caller)[0]
        self._open[a.ino] = self._open.get(a.ino, 0) + 1
        return a

    def symlink(self, parent: int, name: bytes, target: bytes, caller: Caller) -> Attributes:
        if len(target) >= 4096:
            raise errors.NameTooLong("the symbolic link target is longer than PATH_MAX")
        a = self._new_inode(parent, name, stat.S_IFLNK | 0o777, caller)[0]
        self.repo.insert_symlink(a.ino, target)
        a.size = len(target)
        self.repo.update_inode(a)
        return a

    def readlink(self, ino: int) -> bytes:
        target = self.repo.get_symlink(ino)
        if target is None:
            raise errors.InvalidArgument(f"inode {ino} is not a symbolic link")
        return target

    def link(self, ino: int, parent: int, name: bytes, caller: Caller) -> Attributes:
        self.failsafe.check_writable()
        check_name(name)
        a = self.getattr(ino)
        if stat.S_ISDIR(a.mode):
            raise errors.NotPermitted("hard links to directories are not allowed")
        if a.nlink == 0:
            raise errors.NotFound(f"inode {ino} was deleted")
        d = self._dir(parent)
        if self.repo.lookup(parent, name) is not None:
            raise errors.AlreadyExists(f"{name!r} already exists in directory {parent}")
        if a.nlink >= 65000:
            raise errors.TooManyLinks(f"inode {ino} has too many links")
        self._admit_name()
        now = time.time_ns()
        self.repo.insert_dentry(parent, name, ino)
        a.nlink += self._counted(parent)
        a.ctime_ns = now
        self.repo.update_inode(a)
        self._touch_dir(d, now)
        self._remember(ino)
        return a

    # -------------------------------------------------------------- removing

    def unlink(self, parent: int, name: bytes, caller: Caller) -> None:
        self.failsafe.check_writable()
        check_name(name)
        d = self._dir(parent)
        a = self.repo.lookup_attrs(parent, name)
        if a is None:
            raise errors.NotFound(f"{name!r} does not exist in directory {parent}")
        if stat.S_ISDIR(a.mode):
            raise errors.IsADirectory(f"{name!r} is a directory")
        now = time.time_ns()
        self.repo.delete_dentry(parent, name)
        self._touch_dir(d, now)
        self._drop_link(a, now, self._counted(parent))

    def _drop_link(self, a: Attributes, now: int, counted: int = 1) -> None:
        """One entry naming `a` is gone (it counted as a link if `counted`)."""
        a.nlink -= counted
        a.ctime_ns = now
        self.repo.update_inode(a)
        if self._nameless(a):
            self._unlinked(a)

    def rmdir(self, parent: int, name: bytes, caller: Caller) -> None:
        self.failsafe.check_writable()
        check_name(name)
        d = self._dir(parent)
        a = self.repo.lookup_attrs(parent, name)
        if a is None:
            raise errors.NotFound(f"{name!r} does not exist in directory {parent}")
        if not stat.S_ISDIR(a.mode):
            raise errors.NotADirectory(f"{name!r} is not a directory")
        if self.repo.has_entries(a.ino):
            raise errors.NotEmpty(f"directory {name!r} is not empty")
        now = time.time_ns()
        self.repo.delete_dentry(parent, name)
        self._touch_dir(d, now, -1)
        self._remove_dir(a, now)

    def _remove_dir(self, a: Attributes, now: int) -> None:
        a.nlink = 0
        a.ctime_ns = now
        self.repo.update_inode(a)
        self._unlinked(a)

    # --------------------------------------------------------------- rename

    def rename(
        self, p1: int, n1: bytes, p2: int, n2: bytes, flags: int, caller: Caller,
        source: Attributes | None = None,
    ) -> None:
        """rename(2)/renameat2(2) of `n1` in `p1` to `n2` in `p2` (nasfs.fs.rename).
        `source`: what `peek(p1, n1)` returned with no await since (saves reading it
        again); None looks it up."""
        rename.rename(self, p1, n1, p2, n2, flags, caller, source)

    # ------------------------------------------------------------ attributes

    async def setattr(self, ino: int, ch: AttrChanges, caller: Caller) -> Attributes:
        self.failsafe.check_writable()
        a = self.getattr(ino)
        now = time.time_ns()
        if ch.size is not None and ch.size != a.size:
            if stat.S_ISDIR(a.mode):
                raise errors.IsADirectory(f"inode {ino} is a directory")
            if not stat.S_ISREG(a.mode):
                raise errors.InvalidArgument(f"inode {ino} is not a regular file")
            await self.data.truncate(ino, a.size, ch.size)
            a = self.getattr(ino)  # the truncation awaited: re-read what may have changed
            a.size = ch.size
            a.mtime_ns = now
        if ch.mode is not None:
            a.mode = stat.S_IFMT(a.mode) | (ch.mode & 0o7777)
        if ch.uid is not None:
            a.uid = ch.uid
        if ch.gid is not None:
            a.gid = ch.gid
        if ch.atime_ns is not None:
            a.atime_ns = ch.atime_ns
        if ch.mtime_ns is not None:
            a.mtime_ns = ch.mtime_ns
        a.ctime_ns = ch.ctime_ns if ch.ctime_ns is not None else now
        self.repo.update_inode(a)
        return a

    # ----------------------------------------------------------------- files

    async def open_file(self, ino: int, flags: int, caller: Caller) -> None:
        a = self.getattr(ino)
        if stat.S_ISDIR(a.mode):
            raise errors.IsADirectory(f"inode {ino} is a directory")
        if (flags & os.O_ACCMODE) != os.O_RDONLY or flags & os.O_TRUNC:
            self.failsafe.check_writable()
        self._open[ino] = self._open.get(ino, 0) + 1
        if flags & os.O_TRUNC and stat.S_ISREG(a.mode) and (flags & os.O_ACCMODE) != os.O_RDONLY:
            try:
                await self.setattr(ino, AttrChanges(size=0), caller)
            except BaseException:
                self._open[ino] -= 1
                raise

    # Nameless inodes for the trash (nasfs.fs.unnamed).

    async def detach_content(self, ino: int) -> Attributes:
        """Move the content of regular file `ino` to a new nameless inode (nlink 0, an
        orphan until linked); `ino` keeps its number and becomes empty. No data is copied."""
        return await unnamed.detach_content(self, ino)

    def link_orphan(self, ino: int, parent: int, name: bytes) -> Attributes:
        """Give an unnamed inode (from `detach_content`) its first name."""
        return unnamed.link_orphan(self, ino, parent, name)

    def make_unnamed_dir(self, meta_key: str) -> int:
        """The inode of a directory no path reaches, kept under `meta_key` (created on first
        call), such as the trash; its entries do not count in st_nlink."""
        return unnamed.make_unnamed_dir(self, meta_key)

    async def read(self, ino: int, off: int, size: int) -> bytes:
        a = self.getattr(ino)
        return await self.data.read(ino, off, size, a.size)

    async def write(self, ino: int, off: int, buf: bytes) -> int:
        self.failsafe.check_writable()
        if off + len(buf) > (1 << 62):
            raise errors.FileTooBig(f"a write at offset {off} exceeds the maximum file size")
        taken = await self.data.write(ino, off, buf)
        # Re-read after the await: a concurrent write may have grown the file meanwhile.
        a = self.getattr(ino)
        end = off + taken
        if end > a.size:
            a.size = end
        a.mtime_ns = a.ctime_ns = time.time_ns()
        self.repo.update_inode(a)
        if self.data.over_memory_bound():
            await self.data.flush([ino])
        elif self._background is not None and self.data.batch_ready(ino):
            # Overlap: the store writes this batch while the caller sends the next one.
            await self.data.flush_behind(ino, self._background)
        elif self.data.needs_flush(ino):
            await self.data.flush([ino])
        return taken

    async def fallocate(self, ino: int, mode: int, off: int, length: int) -> Attributes:
        """fallocate(2) on regular file `ino` (nasfs.fs.allocate)."""
        self.failsafe.check_writable()
        return await allocate.fallocate(self, ino, mode, off, length)

    def seek(self, ino: int, off: int, whence: int) -> int:
        """lseek(2) SEEK_DATA / SEEK_HOLE on file `ino` (nasfs.fs.allocate)."""
        return allocate.seek(self, ino, off, whence)

    async def fsync(self, ino: int, datasync: bool) -> None:
        # One transaction holds every file's metadata, so committing this file's commits the
        # others' too: commit_durable waits for all buffered and in-flight data first
        # (ordered mode), this file's included, whoever started flushing it.
        await commits.commit_durable(self)

    async def release(self, ino: int) -> None:
        left = self._open.get(ino, 0) - 1
        if left > 0:
            self._open[ino] = left
            return
        self._open.pop(ino, None)
        if self._lookups.get(ino):
            return  # still referenced by the kernel: forget decides (no read needed)
        a = self.repo.get_inode(ino)
        if a is not None and self._nameless(a):
            self._purge(ino)

    # ------------------------------------------------------------ directories

    def opendir(self, ino: int) -> None:
        self._dir(ino)

    def readdir(
        self, ino: int, after: int, limit: int = 256
    ) -> list[tuple[int, bytes, Attributes]]:
        """Up to `limit` entries with ids greater than `after`, in id order."""
        return self.repo.list_entries(ino, after, limit)

    def readdir_plus(
        self, ino: int, after: int, limit: int = 256
    ) -> list[tuple[int, bytes, Attributes, int]]:
        """`readdir` with each entry's st_blocks (`blocks`), the rows and the stored
        records' blocks in one statement for the whole batch."""
        data = self.data
        buffered = data.files
        reserved = data.reservations.holders()
        out = []
        for row in self.repo.list_entries_plus(ino, after, limit):
            a = Attributes(*row[2:13])
            blocks = row[13]
            if a.ino in buffered or a.ino in reserved:
                # Records not stored yet count as written (nasfs.fs.sparse).
                blocks = allocated_blocks(data, a.ino, blocks)
            out.append((row[0], row[1], a, blocks))
        return out

    async def fsyncdir(self, ino: int) -> None:
        await commits.commit_durable(self)

    # ---------------------------------------------------------------- xattrs

    def getxattr(self, ino: int, name: bytes) -> bytes:
        value = self.repo.get_xattr(ino, name)
        if value is None:
            if ino not in self._lookups and not self._open.get(ino):
                # Only an unreferenced inode may be gone (NotFound rather than ENODATA).
                # This miss is the kernel's security.capability probe before every write.
                self.getattr(ino)
            raise errors.NoSuchAttribute(f"inode {ino} has no attribute {name!r}")
        return value

    def setxattr(self, ino: int, name: bytes, value: bytes, caller: Caller) -> None:
        self.failsafe.check_writable()
        a = self.getattr(ino)
        if len(name) > 255:
            raise errors.InvalidArgument(f"the attribute name {name[:40]!r}... is too long")
        if len(value) > 65536:
            raise errors.InvalidArgument("an attribute value is limited to 64 KiB")
        self._admit_name()
        self.repo.set_xattr(ino, name, value)
        a.ctime_ns = time.time_ns()
        self.repo.update_inode(a)

    def listxattr(self, ino: int) -> list[bytes]:
        self.getattr(ino)
        return self.repo.list_xattrs(ino)

    def removexattr(self, ino: int, name: bytes, caller: Caller) -> None:
        self.failsafe.check_writable()
        a = self.getattr(ino)
        if not self.repo.remove_xattr(ino, name):
            raise errors.NoSuchAttribute(f"inode {ino} has no attribute {name!r}")
        a.ctime_ns = time.time_ns()
        self.repo.update_inode(a)
