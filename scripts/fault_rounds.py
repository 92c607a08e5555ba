#!/usr/bin/env python3
"""Fault rounds: try to make nasfs lose or corrupt acknowledged data, or assemble a wrong disk.

Everything is real: the array is made with `nasfs mkfs`, served by the daemon that
`nasfs mount` starts (FUSE), repaired with `nasfs rebuild` and `nasfs scrub`; members are
directories in a temporary directory (or, for the full-array, member-death and power-loss
rounds, loop-mounted ext4 images there). Each round:

1. **crash**: WRITERS processes write distinct data into a share (files of 0-40 MiB in
   calls of up to 512 KiB, overwrites at random offsets, truncates, renames, renames over
   another file, unlinks), some followed by fsync, fdatasync or an fsync of the folder and
   some not. Each writer records in a journal outside the array every change before it
   makes it, and after a sync call *returned* which states that call acknowledged. The
   daemon is SIGKILLed at a seeded moment (a timer, or the moment a chosen writer is inside
   fsync). The array is mounted again and every file of the round is checked against the
   journal: each file shows its acknowledged state or a later one the writer reached (a
   whole number of write calls), byte-exact by SHA-256 and size, never an older or a torn
   one; every name found must be explained by the journal. Files of earlier rounds that
   were checked must not have changed.
2. every --degraded-every rounds, **disk loss**: unmount, take away one member (two with
   --parity 2, the members chosen by the seed), mount --degraded, check everything, run a
   crash round on the degraded array, check again, unmount, `nasfs rebuild` each lost disk
   onto a fresh directory (the first `nasfs rebuild` SIGKILLed at a seeded moment, the
   second resuming it), mount, check, unmount, `nasfs scrub` (0 repairs expected: the
   rebuild wrote what parity says).
3. after a disk-loss round, **wrong disks**: the taken-away member (stale: the degraded
   mount moved the generation on), a member of another array, and a copy of a member in
   place of another (and the same member named twice) are each offered to `nasfs mount`:
   it must refuse with a one-line message naming the disk, mount nothing, and change no
   file or folder of any member (size, mtime, inode and mode compared).
4. every --enospc-every rounds, **full array**: a small array on loop-mounted ext4 images;
   writers create and fsync files until the array answers ENOSPC, go on a little past it,
   then the daemon is SIGKILLed or unmounted (seeded); after the mount every acknowledged
   file must be there byte-exact; half the folders are deleted, the trash purged and the
   daemon SIGKILLed while it compacts (the other half must be intact); then everything is
   deleted, the trash purged, and a 16 MiB file must be writable and durable again.

5. every --dies-every rounds, **a member dies while mounted**: a fresh array on ext4
   images; while the writers run, the filesystem of one member (two with --parity 2) is
   shut down with EXT4_IOC_SHUTDOWN (every later I/O on it answers EIO, as a dead disk's),
   at a seeded moment: a timer, a chosen writer inside fsync, or a mounted scrub running.
   The writers must go on degraded or stop on a clear error, never hang; then either the
   files are checked while still mounted (read from parity), `nasfs status` must name the
   dead disks and a mail (to a real SMTP server on loopback) must say "Missing: disk N",
   and the daemon is SIGKILLed; or the daemon is SIGKILLed while the writers still write
   degraded. Mounted --degraded again, everything is checked; each dead disk is replaced
   by a fresh image and rebuilt, the first rebuild target itself shut down during its
   rebuild (the rebuild must stop with one `nasfs:` line); mounted and checked, and a
   scrub must repair nothing.
6. every --power-every rounds, **power loss**: at a seeded moment the daemon is frozen
   (SIGSTOP), every member's filesystem of a fresh array on ext4 images is shut down
   without flushing its journal (what ext4 had not written to its disk is lost, as at a
   power cut) and the daemon is SIGKILLed; the images are mounted again (ext4 replays its
   journal), the array mounted and every acknowledged state checked; the scrub after
   must find nothing unrecoverable.
7. every --scrub-crash-every rounds, **a crash during a scrub that repairs**: up to 4 KiB
   of one shard of a seeded stripe inverted, a scrub started (offline, or mounted through
   the daemon) and SIGKILLed (the scrub, or the daemon) at a seeded moment; `nasfs scrub
   --resume` and then a full scrub (0 repairs expected); every segment file of every
   member must be byte-identical to before the damage, every file as checked.

`syncfs(2)` (and `sync(1)`) is not an acknowledgement here: the kernel sends FUSE_SYNCFS
only to virtiofs servers, so on a FUSE mount it returns 0 without reaching the daemon
(docs/filesystem.md, Durability). With `--trust-syncfs` the writers call syncfs where they
would fsync and count its return as an acknowledgement: the checker then reports the
loss (it shows the checker fails when acknowledged data is missing).

A failure prints the seed, round and file, keeps the temporary directory (with the
journals and the daemon's log) and exits 1; the same --seed replays the same operations,
sizes, kill choices and lost disks (the kill's exact moment is the machine's).

    .venv/bin/python scripts/fault_rounds.py [--rounds 20] [--seed N] [--parity 1]
        [--members 4] [--writers 4] [--degraded-every 4] [--enospc-every 5]
        [--dies-every 3] [--power-every 4] [--scrub-crash-every 3] [--only KIND] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import email
import email.policy
import errno
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
NASFS = [sys.executable, "-m", "nasfs.cli.main"]
SHARE = "data"
MAX_CALL = 512 << 10  # one write call, one FUSE WRITE (below max_pages even unaligned)
MIB = 1 << 20


class RoundFailed(Exception):
    """Acknowledged data lost or torn, or a wrong disk taken: the point of the script."""


# -- the writer (a separate process) -----------------------------------------------------

def _size(rng: random.Random, max_mib: int) -> int:
    kind = rng.random()
    if kind < 0.05:
        return 0
    if kind < 0.45:
        return rng.randint(1, 64 << 10)
    if kind < 0.85:
        return rng.randint(64 << 10, 4 * MIB)
    return rng.randint(4 * MIB, max_mib * MIB)


def chunk_bytes(seed: str, ident: int, ver: int, length: int) -> bytes:
    """The bytes of one write call: a function of the call alone, so the checker can replay."""
    return random.Random(f"{seed}:{ident}:{ver}").randbytes(length)


class Writer:
    """One writer: its own folder, its journal, its seeded sequence of changes."""

    def __init__(self, folder: Path, seed: str, journal: Path, control: Path, ops: int,
                 max_mib: int, fill: bool, trust_syncfs: bool) -> None:
        self.folder = folder
        self.seed = seed
        self.rng = random.Random(f"{seed}:ops")
        self.journal = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.control = control
        self.ops = ops
        self.max_mib = max_mib
        self.fill = fill
        self.trust_syncfs = trust_syncfs
        self.live: dict[int, tuple[str, int]] = {}  # id -> (name, size)
        self.version: dict[int, int] = {}  # id -> its last version
        self.next_id = 0
        self.enospc = 0

    def log(self, line: str) -> None:
        os.write(self.journal, (line + "\n").encode())

    def bump(self, ident: int) -> int:
        self.version[ident] = self.version.get(ident, -1) + 1
        return self.version[ident]

    def write_range(self, fd: int, ident: int, offset: int, length: int) -> None:
        name, size = self.live[ident]
        while length > 0:
            n = min(length, MAX_CALL - (offset % 4096))
            ver = self.bump(ident)
            self.log(f"W {ident} {ver} {offset} {n}")
            data = chunk_bytes(self.seed, ident, ver, n)
            view = memoryview(data)
            pos = offset
            while view:
                done = os.pwrite(fd, view, pos)
                view = view[done:]
                pos += done
            offset += n
            length -= n
            size = max(size, offset)
            self.live[ident] = (name, size)

    def sync_file(self, fd: int, ident: int) -> None:
        how = self.rng.random()
        if how < 0.45:
            return
        marker = self.control / f"{self.folder.name}.in-fsync"
        marker.touch()
        try:
            if self.trust_syncfs:
                _syncfs(fd)
            elif how < 0.8:
                os.fsync(fd)
            else:
                os.fdatasync(fd)
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()
        self.log(f"A {ident} {self.version[ident]}")

    def sync_folder(self) -> None:
        """fsync of the folder (syncfs with --trust-syncfs): acks every name in it."""
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if self.trust_syncfs:
                _syncfs(fd)
            else:
                os.fsync(fd)
        finally:
            os.close(fd)
        for ident, ver in self.version.items():
            self.log(f"A {ident} {ver}")

    def step(self) -> None:
        rng = self.rng
        choice = rng.random()
        if not self.live or choice < 0.35 or self.fill:
            ident = self.next_id
            self.next_id += 1
            name = f"f{ident}.0"
            ver = self.bump(ident)
            self.log(f"C {ident} {ver} {name}")
            fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                self.live[ident] = (name, 0)
                self.write_range(fd, ident, 0, _size(rng, self.max_mib))
                self.sync_file(fd, ident)
            finally:
                os.close(fd)
            return
        ident = rng.choice(sorted(self.live))
        name, size = self.live[ident]
        if choice < 0.6:  # overwrite at a random offset, maybe past the end
            offset = rng.randint(0, size)
            fd = os.open(self.folder / name, os.O_WRONLY)
            try:
                self.write_range(fd, ident, offset, rng.randint(1, 6 * MIB))
                self.sync_file(fd, ident)
            finally:
                os.close(fd)
        elif choice < 0.7:  # truncate, shorter or longer
            new = rng.randint(0, size + 2 * MIB)
            ver = self.bump(ident)
            self.log(f"T {ident} {ver} {new}")
            fd = os.open(self.folder / name, os.O_WRONLY)
            try:
                os.ftruncate(fd, new)
                self.live[ident] = (name, new)
                self.sync_file(fd, ident)
            finally:
                os.close(fd)
        elif choice < 0.8:  # rename to a new name
            new_name = f"f{ident}.{int(name.split('.')[1]) + 1}"
            ver = self.bump(ident)
            self.log(f"R {ident} {ver} {new_name}")
            os.rename(self.folder / name, self.folder / new_name)
            self.live[ident] = (new_name, size)
            if rng.random() < 0.5:
                self.sync_folder()
        elif choice < 0.88 and len(self.live) > 1:  # rename over another file
            victim = rng.choice([i for i in sorted(self.live) if i != ident])
            vname, _ = self.live[victim]
            ver = self.bump(ident)
            vver = self.bump(victim)
            self.log(f"X {ident} {ver} {vname} {victim} {vver}")
            os.rename(self.folder / name, self.folder / vname)
            self.live[ident] = (vname, size)
            del self.live[victim]
            if rng.random() < 0.5:
                self.sync_folder()
        else:  # unlink
            ver = self.bump(ident)
            self.log(f"U {ident} {ver}")
            os.unlink(self.folder / name)
            del self.live[ident]
            if rng.random() < 0.5:
                self.sync_folder()

    def run(self) -> None:
        for _ in range(self.ops):
            try:
                self.step()
            except OSError as e:
                if self.fill and e.errno == errno.ENOSPC:
                    self.log("E")
                    self.enospc += 1
                    if self.enospc >= 12:
                        return
                    continue
                # The daemon is gone (ENOTCONN, ECONNABORTED), or the array refused the
                # change: said in the journal, so a round can tell an error from a hang.
                self.log(f"F {e.errno} {e.strerror}")
                return


def _syncfs(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syncfs(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs")


def writer_main(argv: list[str]) -> int:
    folder, seed, journal, control, ops, max_mib, fill, trust = argv
    go = Path(control) / "go"
    while not go.exists():
        time.sleep(0.002)
    Writer(Path(folder), seed, Path(journal), Path(control), int(ops), int(max_mib),
           fill == "1", trust == "1").run()
    return 0


# -- the checker ---------------------------------------------------------------------------

@dataclass
class Identity:
    """One file the writer made, as its journal tells it: every state it passed through."""

    events: list[tuple[str, ...]] = field(default_factory=list)  # index = version
    acked: int = -1


def read_journal(path: Path) -> dict[int, Identity]:
    out: dict[int, Identity] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] in ("E", "F"):
            continue
        if parts[0] == "A":
            ident, ver = int(parts[1]), int(parts[2])
            out.setdefault(ident, Identity()).acked = max(out[ident].acked, ver)
            continue
        if parts[0] == "X":  # ident takes the victim's name; the victim is gone
            ident, ver, vname, victim, vver = (int(parts[1]), int(parts[2]), parts[3],
                                               int(parts[4]), int(parts[5]))
            _append(out, ident, ver, ("R", vname))
            _append(out, victim, vver, ("U",))
            continue
        ident, ver = int(parts[1]), int(parts[2])
        _append(out, ident, ver, (parts[0], *parts[3:]))
    return out


def _append(out: dict[int, Identity], ident: int, ver: int, event: tuple[str, ...]) -> None:
    identity = out.setdefault(ident, Identity())
    assert len(identity.events) == ver, f"journal out of order at {ident} {ver}"
    identity.events.append(event)


def _digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


def observe(folder: Path) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    if not folder.exists():
        return found
    for entry in sorted(os.listdir(folder)):
        data = (folder / entry).read_bytes()
        found[entry] = (len(data), _digest(data))
    return found


def check_writer(seed: str, journal: Path, found: dict[str, tuple[int, str]],
                 where: str) -> None:
    """Every file shows its acknowledged state or a later one; every name is explained."""
    explained: set[str] = set()
    for ident, identity in sorted(read_journal(journal).items()):
        name: str | None = None
        content = bytearray()
        ok = False
        reached: list[str] = []
        for ver, event in enumerate(identity.events):
            kind = event[0]
            if kind == "C":
                name = event[1]
            elif kind == "W":
                offset, length = int(event[1]), int(event[2])
                if len(content) < offset:
                    content.extend(bytes(offset - len(content)))
                content[offset:offset + length] = chunk_bytes(seed, ident, ver, length)
            elif kind == "T":
                new = int(event[1])
                if new < len(content):
                    del content[new:]
                else:
                    content.extend(bytes(new - len(content)))
            elif kind == "R":
                name = event[1]
            elif kind == "U":
                name = None
            if ver < identity.acked:
                continue
            if name is None:
                ok = True  # gone is a state this file reached at or after its ack
                reached.append(f"v{ver} gone")
                continue
            seen = found.get(name)
            reached.append(f"v{ver} {name} {len(content)}")
            if seen is not None and seen[0] == len(content) and seen[1] == _digest(content):
                ok = True
                explained.add(name)
        if identity.acked < 0 and not ok:
            ok = True  # nothing acknowledged: not being there at all is allowed too
        if not ok:
            got = {n: found[n][0] for n in found if n.startswith(f"f{ident}.")}
            raise RoundFailed(
                f"{where}: file {ident} acknowledged at version {identity.acked} of "
                f"{len(identity.events)}; no later state found (found {got or 'nothing'}; "
                f"states from the ack: {reached[:3]}...{reached[-2:]})")
    unexplained = sorted(set(found) - explained)
    if unexplained:
        raise RoundFailed(f"{where}: {unexplained[:5]} match no state any writer reached "
                          f"(sizes {[found[n][0] for n in unexplained[:5]]})")


# -- the array, through the CLI --------------------------------------------------------------

class Array:
    """An array driven through `nasfs`: its members, mount point, run and log directories."""

    def __init__(self, root: Path, members: list[Path], parity: int) -> None:
        self.root = root
        self.members = members
        self.parity = parity
        self.mnt = root / "mnt"
        self.mnt.mkdir(exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="nasfs-run-"))  # socket paths are short
        self.config = root / "nasfs.toml"
        self.config.write_text("[array]\nmembers = []\n")
        self.env = dict(os.environ, NASFS_RUN_DIR=str(self.run_dir),
                        NASFS_LOG_DIR=str(root / "log"))
        self.env.pop("NASFS_SOCKET", None)
        self.pid: int | None = None
        self.degraded = False  # members are missing: every mount needs --degraded


    def nasfs(self, *args: str | Path, check: bool = True,
              timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*NASFS, *map(str, args), "--config", str(self.config)],
                              env=self.env, cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RoundFailed(f"nasfs {' '.join(map(str, args))} exited {done.returncode}: "
                              f"{done.stderr.strip()}")
        return done

    def mkfs(self) -> None:
        self.nasfs("mkfs", "--parity", str(self.parity), *self.members)

    def mount(self, *extra: str) -> None:
        if self.degraded:
            extra = ("--degraded", *extra)
        done = self.nasfs("mount", self.mnt, "--array", *self.members, *extra)
        self.pid = int(done.stdout.split("daemon pid ")[1].split(",")[0])
        (self.mnt / SHARE).mkdir(exist_ok=True)

    def umount(self) -> None:
        self.nasfs("umount", self.mnt)
        self.pid = None

    def kill(self) -> None:
        assert self.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        while Path(f"/proc/{self.pid}").exists() and not _zombie(self.pid):
            time.sleep(0.01)
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False,
                       stderr=subprocess.DEVNULL)
        self.pid = None

    def cleanup(self) -> None:
        if self.pid is not None:
            self.kill()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


def umount_when_free(point: Path, seconds: float = 60.0) -> None:
    """Unmount the disk at `point`, waiting while it is busy. A SIGKILLed daemon's leader
    turns zombie before its other threads have all exited (those blocked on a disk that
    was shut down exit last), and their open files keep the mount busy until then. Never
    lazily: mounting the image again while its old mount lives would run two ext4s on it."""
    deadline = time.monotonic() + seconds
    while True:
        done = subprocess.run(["umount", str(point)], capture_output=True, text=True,
                              check=False)
        if done.returncode == 0:
            return
        if "busy" not in done.stderr or time.monotonic() > deadline:
            raise RuntimeError(f"umount {point}: {done.stderr.strip()}")
        time.sleep(0.2)


def tree_state(dirs: list[Path]) -> dict[str, tuple[int, int, int, int]]:
    """Size, mtime, inode and mode of every file and folder under the directories: what a
    refused mount must leave as it was."""
    out: dict[str, tuple[int, int, int, int]] = {}
    for top in dirs:
        for base, subdirs, files in os.walk(top):
            for name in [*files, *subdirs]:
                path = os.path.join(base, name)
                st = os.lstat(path)
                size = st.st_size if name in files else 0  # a folder's size is ext4's
                out[path] = (size, st.st_mtime_ns, st.st_ino, st.st_mode)
    return out


# -- the rounds -------------------------------------------------------------------------------

@dataclass
class Run:
    args: argparse.Namespace
    root: Path
    array: Array
    kept: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)  # folder -> found
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)


@dataclass
class Writers:
    """WRITERS writer processes, each in a fresh folder of the share, with their journals."""

    tag: str
    control: Path
    folders: list[Path]
    seeds: list[str]
    procs: list[subprocess.Popen[bytes]]

    def done(self) -> bool:
        return all(p.poll() is not None for p in self.procs)

    def in_fsync(self, i: int) -> Path:
        """The marker that exists while writer i is inside a sync call."""
        return self.control / f"{self.folders[i].name}.in-fsync"

    def journal(self, i: int) -> Path:
        return self.control / f"w{i}.journal"

    def wait(self, timeout: float, where: str) -> None:
        """Every writer ends within `timeout` seconds; a writer still blocked is a hang."""
        deadline = time.monotonic() + timeout
        for i, p in enumerate(self.procs):
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q in self.procs:
                    q.kill()
                raise RoundFailed(f"{where}: writer w{i} still blocked {timeout:.0f}s after "
                                  f"the fault (a hang, not an error)") from None

    def errors(self) -> list[str]:
        """The error each writer stopped on (its journal's F line), if it stopped on one."""
        out = []
        for i in range(len(self.folders)):
            path = self.journal(i)
            for line in path.read_text().splitlines() if path.exists() else []:
                if line.startswith("F "):
                    out.append(f"w{i}: {line[2:]}")
        return out

    def check(self, run: Run, array: Array) -> int:
        """Check every writer's folder against its journal; returns the files acknowledged."""
        acked = 0
        for i, folder in enumerate(self.folders):
            found = observe(folder)
            check_writer(self.seeds[i], self.journal(i), found,
                         f"seed {run.args.seed} {self.tag} w{i}")
            acked += sum(1 for ident in read_journal(self.journal(i)).values()
                         if ident.acked >= 0)
            run.kept[str(folder.relative_to(array.mnt))] = found
        return acked


def start_writers(run: Run, array: Array, tag: str, *, fill: bool = False,
                  max_mib: int | None = None) -> Writers:
    """Start the writers into fresh folders `TAG-wI` of the share; they begin together."""
    args = run.args
    control = run.root / f"ctl-{tag}"
    control.mkdir()
    share = array.mnt / SHARE
    folders = [share / f"{tag}-w{i}" for i in range(args.writers)]
    seeds = [f"{args.seed}:{tag}:w{i}" for i in range(args.writers)]
    for folder in folders:
        folder.mkdir()
    procs = []
    for i, folder in enumerate(folders):
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "writer", str(folder), seeds[i],
             str(control / f"w{i}.journal"), str(control), str(args.ops * (8 if fill else 1)),
             str(max_mib or args.max_mib), "1" if fill else "0",
             "1" if args.trust_syncfs else "0"], cwd=REPO))
    (control / "go").touch()
    return Writers(tag, control, folders, seeds, procs)


@dataclass
class Moment:
    """A round's seeded moment: a timer, or a chosen writer inside fsync (drawn from the
    round's generator in one order, so a seed replays the same choices)."""

    mode: str
    delay: float
    chosen: int

    @classmethod
    def draw(cls, rng: random.Random, writers: int, max_run: float) -> Moment:
        return cls(rng.choice(["timer", "mid-fsync"]), rng.uniform(0.3, max_run),
                   rng.randrange(writers))

    def wait(self, writers: Writers, max_run: float, rng: random.Random, *,
             after_enospc: bool = False) -> str:
        """Wait for it (or for the writers to finish first); returns how it came."""
        marker = writers.in_fsync(self.chosen)
        started = time.monotonic()
        delay = self.delay
        if after_enospc:  # the clock starts at the first ENOSPC answer
            while not any("E\n" in j.read_text() for j in writers.control.glob("*.journal")):
                if writers.done():
                    break
                time.sleep(0.01)
            started = time.monotonic()
            delay = rng.uniform(0.0, 2.0)
        while time.monotonic() - started < (max_run * 3 if self.mode == "mid-fsync"
                                            else delay):
            if writers.done():
                break
            if (self.mode == "mid-fsync" and time.monotonic() - started >= delay
                    and marker.exists()):
                break
            time.sleep(0.001)
        return (f"{time.monotonic() - started:.1f}s in"
                + (f" while w{self.chosen} was in fsync" if marker.exists() else ""))


def crash_phase(run: Run, array: Array, tag: str, rng: random.Random, *, fill: bool = False,
                kill: bool = True, max_mib: int | None = None) -> dict[str, Any]:
    """Writers into fresh folders, then SIGKILL (or unmount), mount again, check them."""
    writers = start_writers(run, array, tag, fill=fill, max_mib=max_mib)
    moment = Moment.draw(rng, run.args.writers, run.args.max_run)
    if kill:
        killed_how = "killed " + moment.wait(writers, run.args.max_run, rng,
                                             after_enospc=fill)
        array.kill()
        for p in writers.procs:
            p.wait(timeout=600)
        array.mount()
    else:
        for p in writers.procs:
            p.wait(timeout=3600)
        array.umount()
        array.mount()
        killed_how = "unmounted cleanly"
    acked = writers.check(run, array)
    check_kept(run, array, tag)
    folders = writers.folders
    size = sum(s for folder in folders for s, _ in observe(folder).values())
    return {"acked": acked, "files": sum(len(observe(f)) for f in folders),
            "mib": size // MIB, "how": killed_how}


def check_kept(run: Run, array: Array, tag: str) -> None:
    for rel, found in run.kept.items():
        now = observe(array.mnt / rel)
        if now != found:
            changed = sorted(set(now.items()) ^ set(found.items()))[:3]
            raise RoundFailed(f"seed {run.args.seed} {tag}: {rel} changed since it was "
                              f"checked: {changed}")


def forget_old(run: Run, array: Array, keep: int) -> None:
    """Delete all but the newest `keep` rounds' folders and empty the trash (bounded space)."""
    folders = sorted({rel.rsplit("-w", 1)[0] for rel in run.kept})  # r003 < r003d < r004
    for old in folders[:-keep] if keep else folders:
        for rel in [r for r in run.kept if r.rsplit("-w", 1)[0] == old]:
            # A folder made just before a kill, with nothing fsynced in it, may be gone
            # (its mkdir was never made durable): then it was checked as empty.
            if (array.mnt / rel).exists() or run.kept[rel]:
                shutil.rmtree(array.mnt / rel)
            del run.kept[rel]
    array.nasfs("trash", "purge", "--older-than", "0", "--array", *array.members)


def disk_loss(run: Run, array: Array, rnd: int,
              rng: random.Random) -> list[tuple[int, Path]]:
    """Lose members, mount degraded, crash round, rebuild, check, scrub. Returns the lost."""
    array.umount()
    slots = list(array.members)  # in disk order: disk N is slots[N - 1]
    lost_idx = sorted(rng.sample(range(len(array.members)), array.parity))
    lost = [array.members[i] for i in lost_idx]
    aside = [run.root / f"stale-r{rnd}-{m.name}" for m in lost]
    for m, a in zip(lost, aside, strict=True):
        m.rename(a)
    array.members = [m for m in array.members if m not in lost]
    array.degraded = True
    array.mount()
    check_kept(run, array, f"r{rnd} degraded")
    result = crash_phase(run, array, f"r{rnd:03d}d", rng)
    array.umount()
    rebuilds: list[str] = []
    for i in lost_idx:
        new = run.root / f"disk-r{rnd}-{i}"
        new.mkdir()
        present = [m for m in slots if m not in lost]
        rebuild: list[str | Path] = ["rebuild", "--array", *present, "--disk", str(i + 1),
                                     "--onto", new, "--config", array.config]
        # The first rebuild is SIGKILLed at a seeded moment; the second must resume it.
        first = subprocess.Popen([*NASFS, *map(str, rebuild)], env=array.env, cwd=REPO,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first.wait(timeout=rng.uniform(0.5, 4.0))
            interrupted = False
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
            interrupted = True
        rebuilds.append("killed, resumed" if interrupted else "not killed (it was done)")
        array.nasfs(*rebuild[:-2])
        slots[i] = new
    array.members = slots
    array.degraded = False
    array.mount()
    check_kept(run, array, f"r{rnd} rebuilt")
    array.umount()
    scrub = json.loads(array.nasfs("scrub", "--json", "--array", *array.members).stdout)
    repaired = _repairs(scrub)
    if repaired:
        raise RoundFailed(f"seed {run.args.seed} r{rnd}: scrub after rebuild repaired "
                          f"{repaired}: {json.dumps(scrub)[:400]}")
    array.mount()
    check_kept(run, array, f"r{rnd} scrubbed")
    run.say(f"  r{rnd}: lost disk(s) {[i + 1 for i in lost_idx]}, degraded crash round "
            f"{result['how']}, {result['acked']} acked; rebuilt (first rebuild "
            f"{', '.join(rebuilds)}), checked, scrub 0 repairs")
    return list(zip(lost_idx, aside, strict=True))


def _repairs(report: object) -> int:
    """Every number under a key that says something was repaired or unrecoverable."""
    if isinstance(report, dict):
        total = 0
        for key, value in report.items():
            if isinstance(value, int) and not isinstance(value, bool) and (
                    "repair" in key or "unrecoverable" in key or "mismatch" in key):
                total += value
            elif isinstance(value, list) and ("repair" in key or "unrecoverable" in key):
                total += len(value)
            else:
                total += _repairs(value)
        return total
    if isinstance(report, list):
        return sum(_repairs(v) for v in report)
    return 0


def wrong_disks(run: Run, array: Array, rnd: int, stale: list[tuple[int, Path]],
                foreign: list[Path], rng: random.Random) -> None:
    """Each wrong disk offered to `nasfs mount` is refused, and nothing is written."""
    array.umount()
    copy_of = rng.randrange(len(array.members))
    replaced = (copy_of + 1 + rng.randrange(len(array.members) - 1)) % len(array.members)
    clone = run.root / f"clone-r{rnd}"
    subprocess.run(["cp", "-a", str(array.members[copy_of]), str(clone)], check=True)
    cases: list[tuple[str, list[Path]]] = []
    for slot, s in stale:
        members = list(array.members)
        members[slot] = s
        cases.append((f"stale {s.name} for disk {slot + 1}", members))
    slot = rng.randrange(len(array.members))
    members = list(array.members)
    members[slot] = foreign[slot % len(foreign)]
    cases.append((f"foreign member for disk {slot + 1}", members))
    members = list(array.members)
    members[replaced] = clone
    cases.append((f"copy of disk {copy_of + 1} for disk {replaced + 1}", members))
    members = list(array.members)
    members[replaced] = array.members[copy_of]
    cases.append((f"disk {copy_of + 1} named twice", members))
    watched = [*array.members, *(s for _, s in stale), *foreign, clone]
    for what, members in cases:
        before = tree_state(watched)
        for extra in ([], ["--degraded"]):
            done = array.nasfs("mount", array.mnt, "--array", *members, *extra, check=False)
            message = done.stderr.strip()
            if done.returncode == 0 or os.path.ismount(array.mnt):
                with contextlib.suppress(RoundFailed):
                    array.nasfs("umount", array.mnt)
                raise RoundFailed(f"seed {run.args.seed} r{rnd}: {what} was mounted "
                                  f"{' '.join(extra)}: {done.stdout.strip()} {message}")
            lines = message.splitlines()
            if len(lines) != 1 or not lines[0].startswith("nasfs: "):
                raise RoundFailed(f"seed {run.args.seed} r{rnd}: {what}: refusal is not one "
                                  f"line: {message!r}")
        after = tree_state(watched)
        if before != after:
            diff = sorted(set(before.items()) ^ set(after.items()))[:4]
            raise RoundFailed(f"seed {run.args.seed} r{rnd}: {what}: refused, but files "
                              f"changed: {diff}")
        run.say(f"  r{rnd}: refused {what}: {lines[0][:150]}")
    shutil.rmtree(clone)
    array.mount()
    check_kept(run, array, f"r{rnd} after wrong disks")


@contextlib.contextmanager
def loop_members(root: Path, count: int, mib: int) -> Iterator[list[Path]]:
    """`count` ext4 images of `mib` MiB, loop-mounted under root (a full disk is real)."""
    mounted: list[Path] = []
    try:
        for i in range(count):
            image = root / f"small{i}.img"
            point = root / f"small{i}"
            point.mkdir()
            with open(image, "wb") as f:
                f.truncate(mib * MIB)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
            subprocess.run(["mount", "-o", "loop", str(image), str(point)], check=True)
            mounted.append(point)
            shutil.rmtree(point / "lost+found", ignore_errors=True)
        yield mounted
    finally:
        # Also the images a round mounted there later (replacement disks).
        for point in [*mounted, *(p for p in sorted(root.iterdir())
                                  if p not in mounted and os.path.ismount(p))]:
            subprocess.run(["umount", "-l", str(point)], check=False,
                           stderr=subprocess.DEVNULL)


def enospc_round(run: Run, rnd: int, rng: random.Random) -> None:
    args = run.args
    root = run.root / f"full-r{rnd}"
    root.mkdir()
    with loop_members(root, args.members, args.small_mib) as members:
        array = Array(root, members, args.parity)
        try:
            array.mkfs()
            array.mount()
            sub = Run(args, root, array)
            kill = rng.random() < 0.5
            result = crash_phase(sub, array, f"r{rnd:03d}f", rng, fill=True, kill=kill,
                                 max_mib=8)
            journals = list((root / f"ctl-r{rnd:03d}f").glob("*.journal"))
            refusals = sum(j.read_text().count("E\n") for j in journals)
            if refusals == 0 and not kill:
                raise RoundFailed(f"seed {args.seed} r{rnd}: the writers never saw ENOSPC")
            killed_in = _kill_during_compaction(sub, array, rnd, rng)
            for folder in list((array.mnt / SHARE).iterdir()):
                shutil.rmtree(folder)
            array.nasfs("trash", "purge", "--older-than", "0", "--array", *array.members)
            probe = array.mnt / SHARE / "after-purge"
            data = random.Random(f"{args.seed}:{rnd}:probe").randbytes(16 * MIB)
            how = "wrote"
            try:
                _write_synced(probe, data)
            except OSError as e:
                # Purged data is dead space until compaction gives it back (docs/space.md):
                # the reclaimer starts after a purge; `nasfs compact` runs it now.
                if e.errno not in (errno.ENOSPC, errno.EROFS):
                    raise RoundFailed(f"seed {args.seed} r{rnd}: a 16 MiB file after "
                                      f"deleting everything: {e}") from e
                how = _compact_now(array) + ", then wrote"
                if e.errno == errno.EROFS:
                    array.nasfs("retry-writes", "--array", *array.members)
                    how = "needed retry-writes; " + how
                try:
                    _write_synced(probe, data)
                except OSError as again:
                    raise RoundFailed(f"seed {args.seed} r{rnd}: a 16 MiB file after "
                                      f"deleting everything and compacting: {again}") from e
            array.kill()
            array.mount()
            if probe.read_bytes() != data:
                raise RoundFailed(f"seed {args.seed} r{rnd}: the file written after the "
                                  f"purge did not survive a kill")
            array.umount()
            run.say(f"  r{rnd}: full array ({args.members}x{args.small_mib} MiB ext4): "
                    f"{result['acked']} files acked, {refusals} ENOSPC answers, "
                    f"{result['how']}; all acked intact; half deleted, daemon killed "
                    f"{killed_in:.1f}s into the compaction, the rest intact; after delete "
                    f"+ purge {how} 16 MiB, durable")
        finally:
            array.cleanup()


def _kill_during_compaction(run: Run, array: Array, rnd: int, rng: random.Random) -> float:
    """Delete half the folders of a full array, purge, SIGKILL the daemon while it compacts
    (the reclaim the purge started, or `nasfs compact`); the other half must be intact."""
    for rel in sorted(run.kept)[: len(run.kept) // 2]:
        shutil.rmtree(array.mnt / rel)
        del run.kept[rel]
    array.nasfs("trash", "purge", "--older-than", "0", "--array", *array.members)
    compact = subprocess.Popen(
        [*NASFS, "compact", "--array", *map(str, array.members), "--config", str(array.config)],
        env=array.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delay = rng.uniform(0.05, 1.5)
    time.sleep(delay)
    array.kill()
    compact.wait(timeout=120)
    array.mount()
    check_kept(run, array, f"r{rnd} killed while compacting")
    return delay


def _compact_now(array: Array) -> str:
    """`nasfs compact`, or wait for the reclaim the purge started (it refuses a second)."""
    for waited in range(600):
        done = array.nasfs("compact", "--array", *array.members, check=False)
        if done.returncode == 0:
            return "compacted" if not waited else f"waited {waited}s for the reclaim, compacted"
        if "already running" not in done.stderr:
            raise RoundFailed(f"nasfs compact: {done.stderr.strip()}")
        time.sleep(1)
    raise RoundFailed("the reclaim after the purge did not end in 600 s")


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[:MAX_CALL]):]
        os.fsync(fd)
    finally:
        os.close(fd)


# -- a member dies while the array is mounted ----------------------------------------------

EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2  # stop at once; what the journal has not written is lost


def shut_down(point: Path) -> None:
    """Make the ext4 filesystem mounted at `point` die as a disk does: from now on every
    I/O on it answers EIO (the mount stays; nothing more reaches the image)."""
    fd = os.open(point, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)


@contextlib.contextmanager
def mail_catcher() -> Iterator[tuple[list[tuple[str, str]], int]]:
    """A real SMTP server on loopback (aiosmtpd); yields the (subject, body) of every mail
    it received, and its port."""
    from aiosmtpd.controller import Controller  # a test dependency, in the project's .venv

    mails: list[tuple[str, str]] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = message.get_body(("plain",))
            mails.append((str(message["Subject"]),
                          body.get_content() if body is not None else ""))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mails, port
    finally:
        controller.stop()


def use_mail(array: Array, port: int) -> None:
    for key, value in (("mail.host", "127.0.0.1"), ("mail.port", str(port)),
                       ("mail.starttls", "no"), ("mail.to", "admin@example.com"),
                       ("mail.enabled", "yes")):
        array.nasfs("settings", "set", key, value, "--mountpoint", array.mnt)


def wait_for_mail(mails: list[tuple[str, str]], dead: list[int], where: str) -> str:
    """The degraded mail that names every dead disk (the watch mails each change)."""
    wanted = "Missing: " + ", ".join(f"disk {i + 1}" for i in sorted(dead)) + "."
    for _ in range(600):
        for subject, body in list(mails):
            if wanted in body:
                return subject
        time.sleep(0.1)
    raise RoundFailed(f"{where}: no mail saying '{wanted}' in 60 s (got {mails})")


def check_status_names(array: Array, dead: list[int], where: str) -> str:
    """`nasfs status` (exit 4: degraded) names exactly the dead disks as missing."""
    done = array.nasfs("status", "--json", array.mnt, check=False)
    status = json.loads(done.stdout)
    missing = sorted(status["missing"])
    if done.returncode != 4 or status["state"] != "degraded" or missing != sorted(dead):
        raise RoundFailed(f"{where}: status exited {done.returncode}: {status['state']}, "
                          f"missing {missing}; disks {[d + 1 for d in dead]} died")
    return f"degraded, disk(s) {[i + 1 for i in missing]} missing"


def member_death_round(run: Run, rnd: int, rng: random.Random) -> int:
    """Members on ext4 images die (EXT4_IOC_SHUTDOWN) while writers run, or during a
    mounted scrub; see the module docstring, 5."""
    args = run.args
    root = run.root / f"dies-r{rnd}"
    root.mkdir()
    tag = f"r{rnd:03d}m"
    with loop_members(root, args.members, args.dies_mib) as members, \
            mail_catcher() as (mails, port):
        array = Array(root, members, args.parity)
        try:
            array.mkfs()
            array.mount()
            use_mail(array, port)
            sub = Run(args, root, array)
            dead = sorted(rng.sample(range(args.members), args.parity))
            during = rng.choice(["writes", "writes", "scrub"])
            kill_after = rng.random() < 0.5
            writers = start_writers(sub, array, tag, max_mib=args.dies_max_mib)
            moment = Moment.draw(rng, args.writers, args.max_run)
            scrub: subprocess.Popen[str] | None = None
            if during == "scrub":
                # The writers' data first, then a mounted scrub of it, and the death in it.
                writers.wait(600, f"seed {args.seed} {tag}")
                scrub = subprocess.Popen(
                    [*NASFS, "scrub", "--json", "--mountpoint", str(array.mnt),
                     "--config", str(array.config)], env=array.env, cwd=REPO,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                into = rng.uniform(0.05, 0.6)
                time.sleep(into)
                how = (f"{into:.2f}s into a mounted scrub"
                       + (" (it was running)" if scrub.poll() is None else " (it had ended)"))
            else:
                how = moment.wait(writers, args.max_run, rng)
            for n, i in enumerate(dead):
                if n:
                    time.sleep(rng.uniform(0.0, 1.0))
                shut_down(members[i])
            where = f"seed {args.seed} {tag}"
            if kill_after:  # the daemon SIGKILLed while the writers go on degraded
                time.sleep(rng.uniform(0.2, 2.0))
                array.kill()
            writers.wait(600, where)
            scrub_said = ""
            if scrub is not None:
                try:
                    out, err = scrub.communicate(timeout=600)
                except subprocess.TimeoutExpired:
                    scrub.kill()
                    raise RoundFailed(f"{where}: the scrub hung after the disk died") from None
                lines = [line for line in err.splitlines() if line.startswith("nasfs: ")]
                if "Traceback" in err or (scrub.returncode != 0 and len(lines) != 1):
                    raise RoundFailed(f"{where}: the scrub a disk died under ended "
                                      f"{scrub.returncode} without a one-line error: "
                                      f"{err.strip()[-400:]!r}; it said {out[-1500:]}")
                scrub_said = f"; the scrub exited {scrub.returncode}" + (
                    f" ({lines[0][:120]})" if lines else "")
            errors = writers.errors()
            survivors = [m for i, m in enumerate(members) if i not in dead]
            said = ""
            if not kill_after:
                # Still mounted: everything reads back (from parity where a disk died).
                writers.check(sub, array)
                said = check_status_names(array, dead, where)
                said += f"; mailed '{wait_for_mail(mails, dead, where)}'"
                array.kill()
            array.members = survivors
            array.degraded = True
            array.mount()
            # Against the journals again: what was not synced may be gone after the kill
            # (docs/filesystem.md, Durability), so what the mounted check saw is not kept.
            writers.check(sub, array)
            if kill_after:
                said = check_status_names(array, dead, where)
                said += f"; mailed '{wait_for_mail(mails, dead, where)}'"
            check_kept(sub, array, f"{tag} degraded after the kill")
            array.umount()
            rebuilt = replace_dead(sub, array, root, members, dead, rng, where)
            array.degraded = False
            array.mount()
            check_kept(sub, array, f"{tag} rebuilt")
            array.umount()
            report = json.loads(array.nasfs("scrub", "--json", "--array",
                                            *array.members).stdout)
            if _repairs(report):
                raise RoundFailed(f"{where}: scrub after the rebuild repaired "
                                  f"{_repairs(report)}: {json.dumps(report)[:400]}")
            acked = sum(1 for j in range(args.writers)
                        for ident in read_journal(writers.journal(j)).values()
                        if ident.acked >= 0)
            run.say(f"  r{rnd}: disk(s) {[i + 1 for i in dead]} died {how} "
                    f"{scrub_said}; writers "
                    f"{'stopped on ' + '; '.join(errors) if errors else 'went on degraded'}"
                    f"; daemon SIGKILLed {'while they wrote' if kill_after else 'after'}; "
                    f"{acked} acked files intact; status {said}; degraded remount checked; "
                    f"{rebuilt}; scrub 0 repairs")
            return acked
        finally:
            array.cleanup()


def replace_dead(run: Run, array: Array, root: Path, members: list[Path], dead: list[int],
                 rng: random.Random, where: str) -> str:
    """Put a fresh ext4 image in place of every dead member and `nasfs rebuild` it; the
    first rebuild target dies itself at a seeded moment (the rebuild must fail clearly, not
    hang), and a second fresh one is rebuilt."""
    said = []
    slots: list[Path | None] = [None if i in dead else m for i, m in enumerate(members)]
    for n, i in enumerate(dead):
        subprocess.run(["umount", "-l", str(members[i])], check=False,
                       stderr=subprocess.DEVNULL)
        attempts = 0
        while True:
            attempts += 1
            target = new_loop_member(root, f"new{i}-{attempts}")
            present = [m for m in slots if m is not None]
            rebuild = [*NASFS, "rebuild", "--array", *map(str, present), "--disk", str(i + 1),
                       "--onto", str(target), "--config", str(array.config)]
            proc = subprocess.Popen(rebuild, env=array.env, cwd=REPO, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if n == 0 and attempts == 1:
                time.sleep(rng.uniform(0.1, 2.0))
                running = proc.poll() is None
                shut_down(target)
                try:
                    _, err = proc.communicate(timeout=600)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise RoundFailed(f"{where}: rebuild hung after its target died") from None
                # Offline commands log warnings to stderr too; the error is its one line.
                lines = [line for line in err.splitlines() if line.startswith("nasfs: ")]
                # Exit 0: the rebuild had finished (target labelled) before its disk died,
                # the process was still on its way out. Then disk N died once more: it is
                # rebuilt again below, onto a fresh image, like the stopped case.
                if proc.returncode != 0 and (len(lines) != 1 or "Traceback" in err):
                    raise RoundFailed(f"{where}: rebuild onto a dead target: not one line: "
                                      f"{err.strip()[-400:]!r}")
                why = (lines[0].partition(" stopped: ")[2].split(" (")[0].split(";")[0]
                       if lines else "")
                said.append(f"rebuild target of disk {i + 1} died "
                            + (f"during the rebuild (it stopped: {why})"
                               if proc.returncode != 0 else
                               "as the rebuild ended (it had finished: rebuilt again)"
                               if running else "after the rebuild ended"))
                subprocess.run(["umount", "-l", str(target)], check=False,
                               stderr=subprocess.DEVNULL)
                continue
            _, err = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                raise RoundFailed(f"{where}: rebuild of disk {i + 1} failed: {err.strip()}")
            slots[i] = target
            break
    array.members = [m for m in slots if m is not None]
    return "; ".join([*said, f"rebuilt disk(s) {[i + 1 for i in dead]}"])


def new_loop_member(root: Path, name: str, mib: int = 0) -> Path:
    """A fresh ext4 image loop-mounted at root/name (the same size as the others)."""
    sizes = [p.stat().st_size for p in root.glob("*.img")]
    image = root / f"{name}.img"
    point = root / name
    point.mkdir()
    with open(image, "wb") as f:
        f.truncate(mib * MIB if mib else max(sizes))
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(point)], check=True)
    shutil.rmtree(point / "lost+found", ignore_errors=True)
    return point


def power_loss_round(run: Run, rnd: int, rng: random.Random) -> int:
    """The daemon is frozen (SIGSTOP), every member's filesystem stops (EXT4_IOC_SHUTDOWN
    without flushing its journal: what it had not written to its disk is gone) and the
    daemon is SIGKILLed, at a seeded moment while writers run; the images are mounted
    again (ext4 replays its journal), the array mounted, and every acknowledged state must
    be there (a disk refused as stale would be a failure: nothing ran between the stops)."""
    args = run.args
    root = run.root / f"power-r{rnd}"
    root.mkdir()
    tag = f"r{rnd:03d}p"
    with loop_members(root, args.members, args.dies_mib) as members:
        array = Array(root, members, args.parity)
        try:
            array.mkfs()
            array.mount()
            sub = Run(args, root, array)
            writers = start_writers(sub, array, tag, max_mib=args.dies_max_mib)
            how = Moment.draw(rng, args.writers, args.max_run).wait(writers, args.max_run,
                                                                    rng)
            order = rng.sample(members, len(members))  # the disks stop one after another
            # The daemon is frozen first: power takes the CPU with the disks, so it must
            # not see the first disks stop and fail them on the others' labels (a run that
            # froze nothing made those disks stale: seeds 6102 and 6103).
            assert array.pid is not None
            os.kill(array.pid, signal.SIGSTOP)
            for point in order:
                shut_down(point)
            array.kill()
            writers.wait(600, f"seed {args.seed} {tag}")
            for point in members:  # the power comes back: each disk mounted again
                umount_when_free(point)
                subprocess.run(["mount", "-o", "loop", str(root / f"{point.name}.img"),
                                str(point)], check=True)
            array.mount()
            acked = writers.check(sub, array)
            array.umount()
            report = json.loads(array.nasfs("scrub", "--json", "--array",
                                            *array.members).stdout)
            run.say(f"  r{rnd}: power lost {how} (disks stopped in the order "
                    f"{[members.index(p) + 1 for p in order]}, daemon SIGKILLed); images "
                    f"remounted, {acked} acked files intact; scrub after: "
                    f"{_repairs(report)} repairs")
            if report.get("unrecoverable"):
                raise RoundFailed(f"seed {args.seed} {tag}: scrub after the power loss found "
                                  f"unrecoverable stripes: {report['unrecoverable'][:3]}")
            return acked
        finally:
            array.cleanup()


# -- a crash during a scrub that repairs ----------------------------------------------------

def segment_digests(members: list[Path]) -> dict[str, str]:
    """SHA-256 of every segment file of every member (what a scrub may not change, but
    for the damage it repairs)."""
    out: dict[str, str] = {}
    for member in members:
        for path in sorted((member / "nasfs" / "segments").glob("*.seg")):
            out[str(path)] = _digest(path.read_bytes())
    return out


def damage_a_shard(array: Array, rng: random.Random) -> str:
    """Invert up to 4 KiB at the start of one shard of a seeded stripe (array unmounted)."""
    from nasfs.store.geometry import shard_member
    from nasfs.store.segments import segment_path
    from nasfs.store.store import Store

    with Store.open(array.members) as store:
        stripes = store.catalog.stripes_from(0, 1 << 30)
        stripe = rng.choice(stripes)
        shard = rng.randrange(stripe.width + store.nparity)
        index = shard_member(stripe.first_member, shard, store.member_count)
        path = segment_path(store.present[index], stripe.segment)
    fd = os.open(path, os.O_RDWR)
    try:
        old = os.pread(fd, min(stripe.shard_size, 4096), stripe.offset)
        os.pwrite(fd, bytes(b ^ 0xFF for b in old), stripe.offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    return (f"stripe {stripe.id} shard {shard} on disk {index + 1} ({len(old)} bytes at "
            f"{stripe.offset} of {path.name})")


def scrub_crash_round(run: Run, array: Array, rnd: int, rng: random.Random) -> None:
    """Damage a shard, SIGKILL the scrub that repairs it (offline `nasfs scrub`, or the
    daemon under a mounted one), `nasfs scrub --resume`, then a full scrub: the damage is
    repaired, every segment file is as before the damage, every file as checked."""
    where = f"seed {run.args.seed} r{rnd} scrub crash"
    # A file of its own, so there is a stripe to damage even after a round that wrote none.
    folder = array.mnt / SHARE / f"r{rnd:03d}s-w0"
    folder.mkdir()
    _write_synced(folder / "f", rng.randbytes(rng.randint(1, 8) * MIB))
    run.kept[str(folder.relative_to(array.mnt))] = observe(folder)
    array.umount()
    before = segment_digests(array.members)
    damaged = damage_a_shard(array, rng)
    offline = rng.random() < 0.5
    delay = rng.uniform(0.05, 3.0)
    if offline:
        command = ["scrub", "--json", "--array", *map(str, array.members)]
    else:
        array.mount()
        command = ["scrub", "--json", "--mountpoint", str(array.mnt)]
    first = subprocess.Popen([*NASFS, *command, "--config", str(array.config)],
                             env=array.env, cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    finished = first.poll() is not None
    if offline:
        first.kill()
    else:
        array.kill()
    out, _ = first.communicate(timeout=600)
    first_repairs = _repairs(json.loads(out)) if first.returncode == 0 and out.strip() else 0
    # Restarted as after any crash (offline: the next scrub; mounted: the daemon first),
    # and nothing read before the scrubs: a read would heal the damage itself.
    where_args = (["--array", *map(str, array.members)] if offline
                  else ["--mountpoint", str(array.mnt)])
    if not offline:
        array.mount()
    resumed = json.loads(array.nasfs("scrub", "--json", "--resume", *where_args).stdout)
    again = json.loads(array.nasfs("scrub", "--json", *where_args).stdout)
    if not offline:
        check_kept(run, array, f"r{rnd} after the killed scrub")
        array.umount()
    if _repairs(again):
        raise RoundFailed(f"{where}: a full scrub after the resumed one repaired "
                          f"{_repairs(again)} (damaged {damaged}): {json.dumps(again)[:300]}")
    after = segment_digests(array.members)
    changed = sorted(p for p in before if p in after and after[p] != before[p])
    if changed:
        raise RoundFailed(f"{where}: after the scrubs {changed[:3]} differ from before the "
                          f"damage ({damaged}; first scrub repaired {first_repairs}, resumed "
                          f"{_repairs(resumed)})")
    array.mount()
    check_kept(run, array, f"r{rnd} scrubbed after the kill")
    kept = sum(1 for p in before if p in after)
    run.say(f"  r{rnd}: damaged {damaged}; {'offline scrub' if offline else 'daemon'} "
            f"SIGKILLed {delay:.2f}s into the scrub"
            + (f" (it had finished: {first_repairs} repaired)" if finished
               else " (what it repaired before is not reported)") + "; "
            f"--resume from stripe {resumed['report']['resumed_from']} repaired "
            f"{_repairs(resumed)}; a full scrub 0; {kept} of {len(before)} segment files "
            f"byte-identical to before the damage")


def main_rounds(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="nasfs-faults-", dir=args.dir))
    members = [base / f"disk{i}" for i in range(args.members)]
    for m in members:
        m.mkdir()
    array = Array(base, members, args.parity)
    run = Run(args, base, array)
    foreign_root = base / "other-array"
    foreign_root.mkdir()
    foreign = [foreign_root / f"disk{i}" for i in range(3)]
    for m in foreign:
        m.mkdir()
    print(f"fault rounds: seed {args.seed}, {args.rounds} rounds, parity {args.parity}, "
          f"{args.members} members, {args.writers} writers, in {base}", flush=True)
    started = time.monotonic()
    totals = {"acked": 0, "kills": 0, "losses": 0, "wrong": 0, "full": 0, "dies": 0,
              "dies_acked": 0, "scrub_kills": 0, "power": 0, "power_acked": 0}
    try:
        Array(foreign_root, foreign, 1).mkfs()
        array.mkfs()
        array.mount()
        for rnd in range(args.rounds):
            rng = random.Random(f"{args.seed}:round:{rnd}")

            def due(kind: str, every: int, rnd: int = rnd) -> bool:
                return args.only in (None, kind) and every > 0 and rnd % every == every - 1

            # The new kinds draw from generators of their own: a seed's other choices
            # are the same as before they were added.
            if due("dies", args.dies_every):
                totals["dies_acked"] += member_death_round(
                    run, rnd, random.Random(f"{args.seed}:dies:{rnd}"))
                totals["dies"] += 1
            if due("power", args.power_every):
                totals["power_acked"] += power_loss_round(
                    run, rnd, random.Random(f"{args.seed}:power:{rnd}"))
                totals["power"] += 1
            if args.only in ("dies", "power"):
                continue
            result = crash_phase(run, array, f"r{rnd:03d}", rng)
            totals["acked"] += result["acked"]
            totals["kills"] += 1
            run.say(f"round {rnd}: {result['how']}; {result['acked']} files acked, "
                    f"{result['files']} found ({result['mib']} MiB), all states allowed; "
                    f"load {os.getloadavg()[0]:.1f}")
            forget_old(run, array, 2)
            if due("losses", args.degraded_every):
                stale = disk_loss(run, array, rnd, rng)
                totals["losses"] += 1
                wrong_disks(run, array, rnd, stale, foreign, rng)
                totals["wrong"] += 1
                for _, s in stale:
                    shutil.rmtree(s)
            if due("full", args.enospc_every):
                enospc_round(run, rnd, rng)
                totals["full"] += 1
            if due("scrub-crash", args.scrub_crash_every):
                scrub_crash_round(run, array, rnd, random.Random(f"{args.seed}:scrub:{rnd}"))
                totals["scrub_kills"] += 1
        array.umount()
    except RoundFailed as e:
        print(f"FAILED: {e}\n(kept {base}; daemon log {base / 'log'})", flush=True)
        array.cleanup()
        return 1
    except BaseException:
        print(f"(kept {base})", flush=True)
        array.cleanup()
        raise
    array.cleanup()
    shutil.rmtree(base, ignore_errors=True)
    print(f"fault rounds: {args.rounds} rounds passed (seed {args.seed}, parity "
          f"{args.parity}): {totals['kills']} kills, {totals['acked']} acked files checked, "
          f"{totals['losses']} disk losses rebuilt, {totals['wrong']} wrong-disk rounds, "
          f"{totals['full']} full-array rounds, {totals['dies']} member-death rounds "
          f"({totals['dies_acked']} acked files checked), {totals['scrub_kills']} scrubs "
          f"killed, {totals['power']} power losses ({totals['power_acked']} acked files "
          f"checked); {time.monotonic() - started:.0f}s", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["writer"]:
        return writer_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 32))
    parser.add_argument("--parity", type=int, choices=(1, 2), default=1)
    parser.add_argument("--members", type=int, default=None)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--ops", type=int, default=60, help="changes per writer at most")
    parser.add_argument("--max-mib", type=int, default=40, help="largest file written")
    parser.add_argument("--max-run", type=float, default=6.0,
                        help="the kill comes at most this many seconds in")
    parser.add_argument("--degraded-every", type=int, default=4)
    parser.add_argument("--enospc-every", type=int, default=5)
    parser.add_argument("--small-mib", type=int, default=160,
                        help="size of each ext4 image of the full-array rounds")
    parser.add_argument("--dies-every", type=int, default=3,
                        help="a member-death round every N rounds (0: never)")
    parser.add_argument("--dies-mib", type=int, default=400,
                        help="size of each ext4 image of the member-death rounds")
    parser.add_argument("--dies-max-mib", type=int, default=8,
                        help="largest file written in the member-death rounds")
    parser.add_argument("--scrub-crash-every", type=int, default=3,
                        help="a scrub SIGKILLed while it repairs, every N rounds (0: never)")
    parser.add_argument("--power-every", type=int, default=4,
                        help="a power-loss round every N rounds (0: never)")
    parser.add_argument("--only", choices=("dies", "power", "scrub-crash", "losses", "full"),
                        default=None,
                        help="run only this kind of round (besides the crash rounds, which "
                             "scrub-crash, losses and full need; dies and power skip them)")
    parser.add_argument("--trust-syncfs", action="store_true",
                        help="writers call syncfs instead of every fsync and count its "
                             "return as an acknowledgement (it is not one: shows a loss)")
    parser.add_argument("--dir", default=None, help="where the temporary directory goes")
    args = parser.parse_args(argv)
    if args.members is None:
        args.members = 4 if args.parity == 1 else 6
    return main_rounds(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
