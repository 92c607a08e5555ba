"""Model-based test: random operations on the mount and on a plain directory must agree.

Seeded and replayable: NASFS_MODEL_SEED=<seed> reproduces a run, NASFS_MODEL_OPS sets its
length (default 10,000). Every operation's outcome (success or errno) must match; the two
trees (names, types, sizes, modes, link counts, contents) are compared after every batch,
after each remount, and at the end.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import MountedArray

NAMES = [b"a", b"b", b"c", b"d", b"\xe9t\xe9"]  # the last one is Latin-1, not UTF-8
RECORD = 1 << 20


def snapshot(root: bytes) -> dict[bytes, tuple[Any, ...]]:
    """Everything the comparison looks at, keyed by path relative to `root`."""
    out: dict[bytes, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    digest = hashlib.blake2b(f.read()).hexdigest()
                out[rel] = ("f", st.st_mode, st.st_nlink, st.st_size, digest)
            else:
                out[rel] = ("d", st.st_mode, st.st_nlink)
    return out


class Model:
    def __init__(self, rng: random.Random, mnt: bytes, ref: bytes) -> None:
        self.rng = rng
        self.roots = (mnt, ref)
        self.log: list[str] = []

    def path(self) -> bytes:
        depth = self.rng.choice((1, 1, 2, 2, 3))
        return b"/".join(self.rng.choice(NAMES) for _ in range(depth))

    def both(self, what: str, fn: Callable[[bytes], Any]) -> None:
        results = []
        for root in self.roots:
            try:
                fn(root)
                results.append("ok")
            except OSError as exc:
                results.append(os.strerror(exc.errno or 0))
        self.log.append(f"{what} -> {results}")
        assert results[0] == results[1], f"outcomes differ: {what}: mount {results[0]!r}, " \
            f"plain {results[1]!r}; last ops:\n" + "\n".join(self.log[-20:])

    def step(self) -> None:
        rng = self.rng
        op = rng.choices(
            ["write", "create", "truncate", "rename", "link", "unlink", "mkdir", "rmdir",
             "chmod", "append"],
            weights=[30, 10, 8, 10, 5, 10, 4, 8, 3, 5],
        )[0]
        p = self.path()
        j = os.path.join
        if op == "write":
            off = rng.choice((0, rng.randrange(0, 2 * RECORD), RECORD - 7, rng.randrange(4096)))
            data = rng.randbytes(rng.choice((1, 100, 4096, 70000)))
            fsync = rng.random() < 0.05

            def write(root: bytes) -> None:
                fd = os.open(j(root, p), os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    os.pwrite(fd, data, off)
                    if fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)

            self.both(f"write {p!r} @{off} +{len(data)}", write)
        elif op == "append":
            data = rng.randbytes(rng.randrange(1, 5000))

            def append(root: bytes) -> None:
                fd = os.open(j(root, p), os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)

            self.both(f"append {p!r} +{len(data)}", append)
        elif op == "create":
            flags = os.O_WRONLY | os.O_CREAT | rng.choice((0, os.O_EXCL, os.O_TRUNC))
            self.both(f"create {p!r} {flags:o}", lambda r: os.close(os.open(j(r, p), flags, 0o640)))
        elif op == "truncate":
            size = rng.choice((0, rng.randrange(3 * RECORD), RECORD, RECORD + 1, 17))
            self.both(f"truncate {p!r} {size}", lambda r: os.truncate(j(r, p), size))
        elif op == "rename":
            q = self.path()
            self.both(f"rename {p!r} {q!r}", lambda r: os.rename(j(r, p), j(r, q)))
        elif op == "link":
            q = self.path()
            self.both(f"link {p!r} {q!r}", lambda r: os.link(j(r, p), j(r, q)))
        elif op == "unlink":
            self.both(f"unlink {p!r}", lambda r: os.unlink(j(r, p)))
        elif op == "mkdir":
            self.both(f"mkdir {p!r}", lambda r: os.mkdir(j(r, p), 0o755))
        elif op == "rmdir":
            self.both(f"rmdir {p!r}", lambda r: os.rmdir(j(r, p)))
        elif op == "chmod":
            mode = rng.choice((0o644, 0o600, 0o755, 0o700))
            self.both(f"chmod {p!r} {mode:o}", lambda r: os.chmod(j(r, p), mode))

    def compare(self, when: str) -> None:
        mine, ref = (snapshot(r) for r in self.roots)
        assert mine.keys() == ref.keys(), f"{when}: names differ: only mount " \
            f"{sorted(mine.keys() - ref.keys())}, only plain {sorted(ref.keys() - mine.keys())}"
        for k in ref:
            assert mine[k] == ref[k], f"{when}: {k!r} differs: mount {mine[k]}, plain {ref[k]}"


def test_random_operations_match_a_plain_directory(
    fuse_array: MountedArray, tmp_path: Path
) -> None:
    seed = int(os.environ.get("NASFS_MODEL_SEED", random.SystemRandom().randrange(1 << 32)))
    total = int(os.environ.get("NASFS_MODEL_OPS", "10000"))
    print(f"model test seed: NASFS_MODEL_SEED={seed}")
    ref = tmp_path / "plain"
    ref.mkdir()
    os.umask(0o022)
    mnt = fuse_array.mount()
    model = Model(random.Random(seed), os.fsencode(mnt), os.fsencode(ref))
    batch = 250
    remount_every = 2500
    for n in range(1, total + 1):
        model.step()
        if n % batch == 0:
            model.compare(f"after {n} ops (seed {seed})")
        if n % remount_every == 0:
            fuse_array.remount()
            model.compare(f"after remount at {n} ops (seed {seed})")
    model.compare(f"at the end (seed {seed})")
    fuse_array.unmount()
