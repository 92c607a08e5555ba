"""Helpers of the recovery tests: a real array with real files written through the
filesystem layer (no FUSE needed), closed cleanly, and the shell run one-shot on it."""

from __future__ import annotations

import io
import os
import random
import stat
from pathlib import Path

from nasfs.fs import Filesystem
from nasfs.fs.filesystem import Caller
from nasfs.recovery import RecoverySession, run_commands
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS

SMALL = {"segment_bytes": 1 << 20, "max_shard_bytes": 64 << 10}
ALICE = Caller(1001, 1001)


def new_members(root: Path, n: int = 4, p: int = 1) -> list[Path]:
    members = [root / f"disk{i}" for i in range(n)]
    for m in members:
        m.mkdir(parents=True)
    Store.create(members, p, **SMALL)  # type: ignore[arg-type]
    return members


async def populate(members: list[Path], *, small_files: int = 8) -> dict[str, bytes]:
    """Write a little tree; returns path -> content of every regular file.

    Each small file is committed on its own so that it gets a stripe of its own (stripes
    rotate over the members, so losing two members loses some of them, not all).
    """
    rng = random.Random(7)
    files: dict[str, bytes] = {}
    store = Store.open(members)
    fs = Filesystem.open(store, extra_migrations=[TRASH_MIGRATIONS])
    try:
        docs = fs.mkdir(1, b"docs", 0o750, ALICE)
        for i in range(small_files):
            data = rng.randbytes(100 + 37 * i)
            a = fs.create(docs.ino, f"note{i}.txt".encode(), 0o640, ALICE)
            await fs.write(a.ino, 0, data)
            await fs.release(a.ino)
            await fs.commit()
            files[f"docs/note{i}.txt"] = data
        big = rng.randbytes(200_000)
        a = fs.create(1, b"big.bin", 0o600, ALICE)
        await fs.write(a.ino, 0, big)
        # A hole between records: the second record alone, 1 MiB + 10 further.
        await fs.write(a.ino, (1 << 20) + 10, b"tail")
        await fs.release(a.ino)
        files["big.bin"] = big + bytes((1 << 20) + 10 - len(big)) + b"tail"
        fs.symlink(docs.ino, b"link-to-big", b"../big.bin", ALICE)
        fs.link(a.ino, docs.ino, b"big-hardlink", ALICE)
        files["docs/big-hardlink"] = files["big.bin"]
        await fs.close()
    finally:
        store.close()
    return files


def run(members: list[Path], run_dir: Path, *commands: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with RecoverySession(members, run_dir) as session:
        code = run_commands(session, list(commands), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def corrupt_db(path: Path) -> None:
    """Overwrite the SQLite header and first pages: the copy no longer opens."""
    with open(path, "r+b") as f:
        f.write(b"this is not a database any more" * 200)
    for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        side.unlink(missing_ok=True)


def tree(root: Path) -> dict[str, bytes]:
    found = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            if stat.S_ISREG(os.lstat(p).st_mode):
                found[str(p.relative_to(root))] = p.read_bytes()
    return found
