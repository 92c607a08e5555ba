"""A full array under the daemon, killed (SIGKILL) at random points: seeded rounds.

Each round fills the array past full (fsynced files, then buffered small files), then runs
mkdir and rename storms, deletions into the trash, a purge and a mounted compaction in a
random order, with the daemon killed at a random moment (or, in some rounds, stopped
cleanly). After every restart (which must mount without salvage): every fsynced file and
folder is there and intact, every change an fsync made durable holds, what was in flight
is either before or after (a rename is never both or neither), and no operation answered
EIO for lack of space.

NASFS_SPACE_ROUNDS (default 3) and NASFS_SPACE_SEED (default 1) choose the rounds.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nasfs.client import DaemonError
from nasfs.client.trash import TrashClient
from tests.fuse_policy_util import PolicyMount
from tests.space_util import MIB, tmpfs_members, write_file

ROUNDS = int(os.environ.get("NASFS_SPACE_ROUNDS", "3"))
SEED = int(os.environ.get("NASFS_SPACE_SEED", "1"))

# What a dead daemon's mount answers (the kill, not lack of space).
DEAD = {errno.ENOTCONN, errno.ECONNABORTED, errno.ENODEV}


class Killed(Exception):
    """The daemon died under the phase (the kill landed): stop the round."""


@dataclass
class Model:
    """What the array must hold, and what was in flight when the daemon died."""

    files: dict[str, bytes] = field(default_factory=dict)  # present, exactly this
    dirs: set[str] = field(default_factory=set)  # present
    absent: set[str] = field(default_factory=set)  # not present
    maybe_files: dict[str, bytes] = field(default_factory=dict)  # acknowledged, unsynced
    partial: dict[str, bytes] = field(default_factory=dict)  # never acknowledged
    maybe_dirs: set[str] = field(default_factory=set)  # present or not
    maybe_gone: dict[str, bytes] = field(default_factory=dict)  # absent or exactly this
    moving: list[tuple[str, str, bytes]] = field(default_factory=list)  # exactly one of two

    def verify(self, root: Path, *, clean: bool) -> None:
        """Check the tree against the model and fold what was uncertain into it."""
        for name, data in self.files.items():
            got = (root / name).read_bytes()
            assert got == data, f"{name}: {len(got)} of {len(data)} bytes survived"
        for name in self.dirs:
            assert (root / name).is_dir(), f"folder {name} is lost"
        for name in self.absent:
            assert not (root / name).exists(), f"{name} came back"
        for old, new, data in self.moving:
            there = [n for n in (old, new) if (root / n).exists()]
            assert len(there) == 1, f"rename {old} -> {new}: {there} exist"
            assert (root / there[0]).read_bytes() == data
            self.files[there[0]] = data
            self.absent.add(new if there[0] == old else old)
        for name, data in self.maybe_gone.items():
            if (root / name).exists():
                assert (root / name).read_bytes() == data
                self.files[name] = data
            else:
                self.absent.add(name)
        for name, data in self.maybe_files.items():
            # Acknowledged, never fsynced: a crash may keep any prefix (ordered commits),
            # a clean stop keeps it all.
            if (root / name).exists():
                got = (root / name).read_bytes()
                assert data.startswith(got), f"{name}: not what was written"
                assert not clean or got == data, f"{name}: acknowledged, lost at unmount"
                self.files[name] = got
            else:
                assert not clean, f"{name}: acknowledged, lost at unmount"
        for name, data in self.partial.items():
            if (root / name).exists():
                got = (root / name).read_bytes()
                assert data.startswith(got), f"{name}: not what was written"
                self.files[name] = got
            else:
                self.absent.add(name)
        for name in self.maybe_dirs:
            if (root / name).is_dir():
                self.dirs.add(name)
        self.moving, self.maybe_gone, self.maybe_files, self.partial = [], {}, {}, {}
        self.maybe_dirs = set()


def _guard(exc: OSError, killed: threading.Event, *allowed: int) -> None:
    """An error is lack of space (allowed), or the kill; anything else (EIO) fails."""
    if exc.errno in allowed:
        return
    if killed.is_set() and exc.errno in DEAD | {errno.EIO, errno.ENOENT}:
        raise Killed from exc
    raise AssertionError(f"unexpected {errno.errorcode.get(exc.errno or 0)}: {exc}") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Round:
    def __init__(self, nas: PolicyMount, model: Model, rng: random.Random, number: int,
                 killed: threading.Event) -> None:
        self.nas, self.model, self.rng, self.n, self.killed = nas, model, rng, number, killed
        self.docs = nas.mnt / "docs"

    def _write(self, name: str, data: bytes, *, fsync: bool) -> bool:
        try:
            ok = write_file(self.docs / name, data, fsync=fsync)
        except OSError as exc:
            _guard(exc, self.killed)
            return False
        if self.killed.is_set() and not (self.docs / name).exists():
            raise Killed
        return ok

    def fill(self) -> None:
        """Fsynced files until full, then small buffered ones until full."""
        for i in range(200):
            name, data = f"s{self.n}-{i:03d}", self.rng.randbytes(self.rng.choice(
                (MIB, 300_000, 20_000)))
            self.model.partial[name] = data  # until acknowledged
            if not self._write(name, data, fsync=True):
                break
            self.model.files[name] = self.model.partial.pop(name)
        for i in range(300):
            name, data = f"b{self.n}-{i:03d}", self.rng.randbytes(self.rng.choice((5, 3000)))
            self.model.partial[name] = data
            if not self._write(name, data, fsync=False):
                break
            self.model.maybe_files[name] = self.model.partial.pop(name)

    def mkdirs(self) -> None:
        made = []
        for i in range(self.rng.randint(20, 80)):
            name = f"d{self.n}-{i:03d}"
            try:
                os.mkdir(self.docs / name)
            except OSError as exc:
                _guard(exc, self.killed, errno.ENOSPC)
                if exc.errno == errno.ENOSPC:
                    break
            self.model.maybe_dirs.add(name)
            made.append(name)
        self._sync()
        for name in made:
            self.model.maybe_dirs.discard(name)
            self.model.dirs.add(name)

    def renames(self) -> None:
        names = sorted(self.model.files)
        chosen = self.rng.sample(names, min(len(names), 15))
        for old in chosen:
            new = f"r{self.n}-{old}"
            data = self.model.files.pop(old)
            self.model.moving.append((old, new, data))
            try:
                os.rename(self.docs / old, self.docs / new)
            except OSError as exc:
                _guard(exc, self.killed)
        self._sync()
        for old, new, data in self.model.moving:
            self.model.files[new] = data
            self.model.absent.add(old)
        self.model.moving = []

    def deletes(self) -> None:
        names = sorted(self.model.files)
        for name in self.rng.sample(names, len(names) // 3):
            self.model.maybe_gone[name] = self.model.files.pop(name)
            try:
                os.unlink(self.docs / name)
            except OSError as exc:
                _guard(exc, self.killed)
        self._sync()
        self.model.absent.update(self.model.maybe_gone)
        self.model.maybe_gone = {}

    def purge(self) -> None:
        self._control(lambda: TrashClient(self.nas.client).purge(  # type: ignore[arg-type]
            older_than_days=0))

    def compact(self) -> None:
        try:
            self._control(lambda: self.nas.call("compact", {"min_dead": 0.1}))
        except DaemonError as exc:
            if exc.code != "job_busy":  # the reclaimer is compacting already: as good
                raise

    def _control(self, call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except Exception as exc:
            if self.killed.is_set():
                raise Killed from exc
            raise

    def _sync(self) -> None:
        """fsync of the share folder: it commits everything written before it."""
        try:
            _fsync_dir(self.docs)
        except OSError as exc:
            _guard(exc, self.killed)
        self.model.files.update(self.model.maybe_files)
        self.model.maybe_files = {}


def _kill(proc: subprocess.Popen[str], killed: threading.Event) -> None:
    killed.set()
    proc.kill()


def _after_kill(nas: PolicyMount) -> None:
    """The killed daemon's leftovers: its process, client and dead mount."""
    assert nas.proc is not None
    nas.proc.wait()
    nas.proc = None
    if nas.client is not None:
        nas.client.close()
        nas.client = None
    subprocess.run(["fusermount3", "-u", "-z", str(nas.mnt)], check=False,
                   stderr=subprocess.DEVNULL)


@pytest.fixture
def tiny_nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with tmpfs_members(tmp_path, [24] * 3) as members:
        nas = PolicyMount(tmp_path, members)
        try:
            nas.start()
            nas.admin.share_create("docs")
            nas.admin.share_acl("docs", "everyone", None, "rw")
            yield nas
        finally:
            nas.cleanup()


def test_full_array_killed_at_random_points_loses_nothing_acknowledged(
        tiny_nas: PolicyMount) -> None:
    nas = tiny_nas
    model = Model()
    for n in range(ROUNDS):
        rng = random.Random(SEED * 1000 + n)
        killed = threading.Event()
        step = Round(nas, model, rng, n, killed)
        step.fill()
        phases = [step.mkdirs, step.renames, step.deletes, step.purge, step.compact]
        rng.shuffle(phases)
        crash = rng.random() < 0.75  # else a clean stop
        timer = None
        if crash:
            assert nas.proc is not None
            timer = threading.Timer(rng.uniform(0.0, 3.0), _kill, (nas.proc, killed))
            timer.start()
        try:
            for phase in phases:
                phase()
        except Killed:
            pass
        if timer is not None:
            timer.join()  # a kill that did not land during the phases lands here
            _after_kill(nas)
        else:
            nas.stop()
        nas.start()  # mounts without salvage
        model.verify(nas.mnt / "docs", clean=not crash)
    nas.stop()
    nas.start()
    model.verify(nas.mnt / "docs", clean=True)
    nas.stop()
