"""What changed between two generations of the tree (two snapshots, or a snapshot and now).

Both trees are walked together from the root. A path present only in the newer tree is
added, only in the older one removed (every path below an added or removed folder is listed
too). A path in both is changed when its type, permissions, owner, size, mtime, content
(extent rows), symlink target or xattrs differ; folders are compared by their entries, not
by their mtime (which only says that an entry changed). atime and ctime are ignored.

A path whose inode row is the same row at both generations (the same `born`) is unchanged
without comparing its records, xattrs or target: every change to a file writes its inode
row (Repository.listing_at). `diff_folder` diffs one folder (a backup job's source) with
paths relative to it.
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from typing import Any

from nasfs.fs.repository import Attributes, Repository
from nasfs.fs.schema import ROOT_INODE

log = logging.getLogger(__name__)


@dataclass
class TreeDiff:
    added: list[bytes] = field(default_factory=list)
    changed: list[bytes] = field(default_factory=list)
    removed: list[bytes] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def text(paths: list[bytes]) -> list[str]:
            return [p.decode("utf-8", "surrogateescape") for p in paths]

        return {"added": text(self.added), "changed": text(self.changed),
                "removed": text(self.removed)}


def _entries(repo: Repository, ino: int, generation: int) -> dict[bytes, Attributes]:
    out: dict[bytes, Attributes] = {}
    after = 0
    while True:
        batch = repo.list_entries_at(ino, after, 1000, generation)
        if not batch:
            return out
        for off, name, a in batch:
            after = off
            out[name] = a


def _listing(repo: Repository, ino: int, generation: int) -> dict[bytes, tuple[int, Attributes]]:
    return {name: (born, a) for name, born, a in repo.listing_at(ino, generation)}


def _differs(repo: Repository, a: Attributes, ga: int, b: Attributes, gb: int) -> bool:
    if (stat.S_IFMT(a.mode) != stat.S_IFMT(b.mode) or a.mode != b.mode or a.uid != b.uid
            or a.gid != b.gid or a.rdev != b.rdev):
        return True
    if not stat.S_ISDIR(a.mode) and (a.size != b.size or a.mtime_ns != b.mtime_ns):
        return True
    if repo.xattrs_at(a.ino, ga) != repo.xattrs_at(b.ino, gb):
        return True
    if stat.S_ISREG(a.mode):
        return repo.extents_at(a.ino, ga) != repo.extents_at(b.ino, gb)
    if stat.S_ISLNK(a.mode):
        return repo.symlink_at(a.ino, ga) != repo.symlink_at(b.ino, gb)
    return False


def _all_below(repo: Repository, a: Attributes, g: int, path: bytes, out: list[bytes]) -> None:
    out.append(path)
    if stat.S_ISDIR(a.mode):
        for name, child in _entries(repo, a.ino, g).items():
            _all_below(repo, child, g, path + b"/" + name, out)


def diff_generations(repo: Repository, older: int, newer: int) -> TreeDiff:
    """Paths (from the root, without a leading '/') added, changed and removed."""
    return _diff(repo, older, newer, ROOT_INODE, ROOT_INODE)


def diff_folder(repo: Repository, older: int, newer: int, path: bytes) -> TreeDiff | None:
    """What changed inside the folder `path` (from the root; b'' is the root), with paths
    relative to it; None when it is not a folder at both generations."""
    ends = []
    for g in (older, newer):
        a = repo.inode_at(ROOT_INODE, g)
        for part in path.split(b"/"):
            if part and a is not None:
                a = repo.lookup_at(a.ino, part, g)
        if a is None or not stat.S_ISDIR(a.mode):
            return None
        ends.append(a.ino)
    return _diff(repo, older, newer, ends[0], ends[1])


def _diff(repo: Repository, older: int, newer: int, top_a: int, top_b: int) -> TreeDiff:
    result = TreeDiff()
    pending: list[tuple[int, int, bytes]] = [(top_a, top_b, b"")]
    while pending:
        ino_a, ino_b, prefix = pending.pop()
        old = _listing(repo, ino_a, older)
        new = _listing(repo, ino_b, newer)
        for name in sorted(old.keys() | new.keys()):
            path = prefix + b"/" + name if prefix else name
            seen_a, seen_b = old.get(name), new.get(name)
            if seen_a is None:
                assert seen_b is not None
                _all_below(repo, seen_b[1], newer, path, result.added)
                continue
            if seen_b is None:
                _all_below(repo, seen_a[1], older, path, result.removed)
                continue
            (born_a, a), (born_b, b) = seen_a, seen_b
            if stat.S_IFMT(a.mode) != stat.S_IFMT(b.mode):
                _all_below(repo, a, older, path, result.removed)
                _all_below(repo, b, newer, path, result.added)
                continue
            same_row = a.ino == b.ino and born_a == born_b
            if not same_row and _differs(repo, a, older, b, newer):
                result.changed.append(path)
            if stat.S_ISDIR(a.mode):
                pending.append((a.ino, b.ino, path))
    for paths in (result.added, result.changed, result.removed):
        paths.sort()
    return result
