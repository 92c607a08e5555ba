"""Helpers shared by the store tests: make member directories, random chunks, damage."""

from __future__ import annotations

import os
import random
from pathlib import Path

from nasfs.store import Store, StoreEvent

SMALL = {"segment_bytes": 1 << 20, "max_shard_bytes": 64 << 10}


def make_members(root: Path, n: int, prefix: str = "m") -> list[Path]:
    members = [root / f"{prefix}{i}" for i in range(n)]
    for m in members:
        m.mkdir(parents=True)
    return members


def new_array(root: Path, n: int, p: int, **geometry: int) -> list[Path]:
    members = make_members(root, n)
    Store.create(members, p, **(geometry or SMALL))
    return members


def random_chunks(rng: random.Random, count: int, max_len: int = 200_000) -> list[bytes]:
    sizes = [rng.choice([1, 17, 4096, 5000, 65536, 100_000, rng.randrange(1, max_len)])
             for _ in range(count)]
    return [rng.randbytes(n) for n in sizes]


def segment_files(member: Path) -> list[Path]:
    return sorted((member / "nasfs" / "segments").glob("*.seg"))


def flip_bytes(member: Path, rng: random.Random, flips: int = 40) -> int:
    """Overwrite random bytes in the member's segment files; returns how many changed."""
    changed = 0
    files = [f for f in segment_files(member) if f.stat().st_size > 0]
    for _ in range(flips):
        f = rng.choice(files)
        size = f.stat().st_size
        pos = rng.randrange(size)
        with open(f, "r+b") as fh:
            fh.seek(pos)
            old = fh.read(1)
            fh.seek(pos)
            fh.write(bytes([old[0] ^ (1 + rng.randrange(255))]))
        changed += 1
    return changed


class EventLog(list[StoreEvent]):
    def __call__(self, event: StoreEvent) -> None:
        self.append(event)

    def kinds(self) -> set[str]:
        return {e.kind for e in self}


def empty_dir(path: Path) -> None:
    import shutil

    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
