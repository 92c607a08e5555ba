"""`Trash`: moving things into a share's trash, listing, restoring and purging them.

Runs on the trio thread beside the filesystem (same SQLite connection, same transaction):
moving an entry into the trash is one rename inside `fs.db`, so it is as atomic and as
durable as any other namespace change. Nothing here checks who may do what; the policy
gate (nasfs.policy.gate) and the control methods decide that before calling.
"""

from __future__ import annotations

import builtins
import datetime
import logging
import stat
from dataclasses import dataclass

from nasfs.clock import Clock
from nasfs.errors import NasfsError
from nasfs.fs import ROOT_CALLER, ROOT_INODE, Attributes, Caller, Filesystem
from nasfs.trash.repository import TrashItem, TrashRepository
from nasfs.trash.schema import TRASH_DIR_KEY
from nasfs.wire import codes

log = logging.getLogger(__name__)

DAY_NS = 86_400 * 10**9


class TrashError(NasfsError):
    """A trash item or a restore target is not what the request needs."""

    wire_code = codes.TRASH


@dataclass(frozen=True, slots=True)
class Deleter:
    user: str | None
    uid: int


@dataclass(frozen=True, slots=True)
class Restored:
    item: TrashItem
    parent: int  # directory the item now lives in
    name: bytes
    path: bytes  # inside the share
    made: tuple[tuple[int, bytes], ...] = ()  # folders created for it: (parent, name)


def entry_name(item_id: int) -> bytes:
    return str(item_id).encode()


def split_path(path: bytes) -> list[bytes]:
    parts = [p for p in path.split(b"/") if p]
    if not parts or any(p in (b".", b"..") for p in parts):
        raise TrashError(f"{path.decode('utf-8', 'replace')!r} is not a usable path")
    return parts


class Trash:
    def __init__(self, fs: Filesystem, clock: Clock) -> None:
        self.fs = fs
        self.clock = clock
        self.repo = TrashRepository(fs.db, fs.side_write)
        self.dir = fs.make_unnamed_dir(TRASH_DIR_KEY)

    # -- putting things in -----------------------------------------------------------------

    def move_in(self, parent: int, name: bytes, share: str, path: bytes, who: Deleter,
                reason: str, entry: Attributes | None = None) -> TrashItem:
        """Move the entry `name` of `parent` into the trash (its inode keeps its data).
        `entry`: its attributes, if the caller has just looked them up (no await since)."""
        a = entry if entry is not None else self.fs.peek(parent, name)
        if a is None:
            raise TrashError(f"{name!r} does not exist")
        now = self.clock.now_ns()
        item = self.repo.insert(share, path, a.ino, who.user, who.uid, now, a.size, reason)
        # No await since `a` was read, and the item's row changes no filesystem row: the
        # rename may take `a` as its source instead of reading it again.
        self.fs.rename(parent, name, self.dir, entry_name(item.id), 0, ROOT_CALLER, a)
        log.debug("trashed %s:%r as item %d (%s)", share, path, item.id, reason)
        return item

    async def keep_content(self, ino: int, share: str, path: bytes, who: Deleter) -> TrashItem:
        """Move the content of file `ino` into the trash; the file stays, empty."""
        moved = await self.fs.detach_content(ino)
        # No await from here: the unnamed inode gets its name in the same transaction.
        now = self.clock.now_ns()
        item = self.repo.insert(share, path, moved.ino, who.user, who.uid, now, moved.size,
                                "truncated")
        self.fs.link_orphan(moved.ino, self.dir, entry_name(item.id))
        return item

    # -- reading ---------------------------------------------------------------------------

    def get(self, item_id: int) -> TrashItem:
        item = self.repo.get(item_id)
        if item is None:
            raise TrashError(f"trash item {item_id} does not exist")
        return item

    def items(self, share: str | None = None, uid: int | None = None) -> list[TrashItem]:
        return self.repo.list(share, uid)

    def usage(self) -> dict[str, tuple[int, int]]:
        return self.repo.usage()

    # -- restoring -------------------------------------------------------------------------

    def share_root(self, share: str) -> int:
        a = self.fs.peek(ROOT_INODE, share.encode())
        if a is None:
            raise TrashError(f"share {share} has no folder")
        return a.ino

    def _make_parents(self, root: int, parts: builtins.list[bytes], owner: Caller,
                      made: builtins.list[tuple[int, bytes]]) -> int:
        """Walk `parts` below `root`, creating missing folders (mkdir -p) into `made`."""
        cur = root
        for part in parts:
            a = self.fs.peek(cur, part)
            if a is None:
                a = self.fs.mkdir(cur, part, 0o755, owner)
                self.fs.forget(a.ino, 1)  # mkdir counts a kernel reference; there is none
                made.append((cur, part))
            elif not stat.S_ISDIR(a.mode):
                raise TrashError(f"{part.decode('utf-8', 'replace')!r} is not a folder")
            cur = a.ino
        return cur

    def free_name(self, parent: int, name: bytes) -> bytes:
        """`name`, or `name (restored YYYY-MM-DD HH.MM)` (and a counter) if it is taken."""
        if self.fs.peek(parent, name) is None:
            return name
        stamp = datetime.datetime.fromtimestamp(self.clock.now(), datetime.UTC)
        stem, dot, ext = name.rpartition(b".")
        if not stem or not dot:
            stem, ext = name, b""
        suffix = b" (restored " + stamp.strftime("%Y-%m-%d %H.%M").encode()
        for n in range(1, 1000):
            extra = b")" if n == 1 else f" {n})".encode()
            candidate = stem + suffix + extra + (b"." + ext if ext else b"")
            if self.fs.peek(parent, candidate) is None:
                return candidate
        raise TrashError(f"no free name beside {name!r}")

    def restore(self, item_id: int, to: bytes | None = None,
                to_share: str | None = None) -> Restored:
        """Put item `item_id` back at its original path (missing folders are recreated), or
        at `to` (a path inside `to_share`, default its own share). A taken name is not
        replaced: the item lands beside it (see `free_name`)."""
        item = self.get(item_id)
        share = to_share or item.share
        parts = split_path(to if to is not None else item.path)
        owner = Caller(item.uid, item.uid)
        made: builtins.list[tuple[int, bytes]] = []
        parent = self._make_parents(self.share_root(share), parts[:-1], owner, made)
        name = self.free_name(parent, parts[-1])
        done = self.restore_to(item, parent, name, b"/".join([b"", *parts[:-1], name]))
        return Restored(done.item, done.parent, done.name, done.path, tuple(made))

    def restore_to(self, item: TrashItem, parent: int, name: bytes, path: bytes) -> Restored:
        """Move the item's inode to `name` in `parent` (which must be free) and forget it."""
        self.fs.rename(self.dir, entry_name(item.id), parent, name, 1, ROOT_CALLER)
        self.repo.delete(item.id)
        return Restored(item, parent, name, path)

    # -- purging ---------------------------------------------------------------------------

    def purge(self, item_id: int) -> TrashItem:
        """Delete the item for good (its data is released at the next commit)."""
        item = self.get(item_id)
        self.fs.unlink(self.dir, entry_name(item_id), ROOT_CALLER)
        self.repo.delete(item_id)
        return item

    def purge_older_than(self, days: float, share: str | None = None) -> builtins.list[TrashItem]:
        before = self.clock.now_ns() - int(days * DAY_NS)
        return [self.purge(i.id) for i in self.repo.list(share, None, before)]

    def expired(self, retention: dict[str, int | None]) -> builtins.list[TrashItem]:
        """Items older than their share's retention (days; None: the share keeps no trash,
        so anything left from before is expired at once). Shares not in `retention` keep
        their items (a deleted share's trash waits for an administrator)."""
        now = self.clock.now_ns()
        out = []
        for item in self.repo.list():
            if item.share not in retention:
                continue
            days = retention[item.share]
            if days is None or item.deleted_ns < now - days * DAY_NS:
                out.append(item)
        return out
