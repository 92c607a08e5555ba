"""What the modules built by the filesystem use of it, as protocols.

The snapshot manager (nasfs.fs.snapshots), the restore (nasfs.fs.snapshot_restore) and
fallocate/lseek (nasfs.fs.allocate) are built by and for one `Filesystem`, which imports
them; they receive one of these protocols, not the filesystem, so none has a back-reference
to it. A `SnapshotView` is handed only the repository and the data path it reads.
`Filesystem` satisfies both protocols (mypy checks it where the filesystem hands itself
over). rename.py and unnamed.py are different: they are the filesystem's own namespace
operations moved to files of their own, working on its private state (link counts, kernel
references, directory times), so they name `Filesystem` itself.
"""

from __future__ import annotations

from typing import Protocol

from nasfs.fs.data import ChunkStore, DataPath
from nasfs.fs.failsafe import FailSafe
from nasfs.fs.repository import Attributes, Repository


class FileHost(Protocol):
    """A live inode's attributes, the repository and the data path."""

    repo: Repository
    data: DataPath

    def getattr(self, ino: int) -> Attributes: ...


class SnapshotHost(FileHost, Protocol):
    """Also the store (references, capacity), the fail-safe (changes are refused while
    read-only) and the durable commit that makes a snapshot change stick."""

    store: ChunkStore
    failsafe: FailSafe

    async def commit(self) -> None: ...
