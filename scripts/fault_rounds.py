#!/usr/bin/env python3
"""Fault rounds: try to make nasfs lose or corrupt acknowledged data, or assemble a wrong disk.

Everything is real: the array is made with `nasfs mkfs`, served by the daemon that
`nasfs mount` starts (FUSE), repaired with `nasfs rebuild` and `nasfs scrub`; members are
directories in a temporary directory (or, for the full-disk rounds, loop-mounted ext4 images
there). Each round:

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

`syncfs(2)` (and `sync(1)`) is not an acknowledgement here: the kernel sends FUSE_SYNCFS
only to virtiofs servers, so on a FUSE mount it returns 0 without reaching the daemon
(docs/filesystem.md, Durability). With `--trust-syncfs` the writers call syncfs where they
would fsync and count its return as an acknowledgement: the checker then reports the
loss (it shows the checker fails when acknowledged data is missing).

A failure prints the seed, round and file, keeps the temporary directory (with the
journals and the daemon's log) and exits 1; the same --seed replays the same operations,
sizes, kill choices and lost disks (the kill's exact moment is the machine's).

    .venv/bin/python scripts/fault_rounds.py [--rounds 20] [--seed N] [--parity 1]
        [--members 4] [--writers 4] [--degraded-every 4] [--enospc-every 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import hashlib
import json
import os
import random
import shutil
import signal
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
                return  # the daemon is gone (ENOTCONN, ECONNABORTED, EIO)


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
        if not parts or parts[0] == "E":
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


def crash_phase(run: Run, array: Array, tag: str, rng: random.Random, *, fill: bool = False,
                kill: bool = True, max_mib: int | None = None) -> dict[str, Any]:
    """Writers into fresh folders, then SIGKILL (or unmount), mount again, check them."""
    args = run.args
    control = run.root / f"ctl-{tag}"
    control.mkdir()
    share = array.mnt / SHARE
    folders = [share / f"{tag}-w{i}" for i in range(args.writers)]
    for folder in folders:
        folder.mkdir()
    procs = []
    for i, folder in enumerate(folders):
        seed = f"{args.seed}:{tag}:w{i}"
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "writer", str(folder), seed,
             str(control / f"w{i}.journal"), str(control), str(args.ops * (8 if fill else 1)),
             str(max_mib or args.max_mib), "1" if fill else "0",
             "1" if args.trust_syncfs else "0"], cwd=REPO))
    mode = rng.choice(["timer", "mid-fsync"])
    delay = rng.uniform(0.3, args.max_run)
    chosen = rng.randrange(args.writers)
    (control / "go").touch()
    started = time.monotonic()
    killed_how = "writers finished"
    if kill:
        marker = control / f"{folders[chosen].name}.in-fsync"
        if fill:  # the clock starts at the first ENOSPC answer
            while not any("E\n" in j.read_text() for j in control.glob("*.journal")):
                if all(p.poll() is not None for p in procs):
                    break
                time.sleep(0.01)
            started = time.monotonic()
            delay = rng.uniform(0.0, 2.0)
        while time.monotonic() - started < (args.max_run * 3 if mode == "mid-fsync"
                                            else delay):
            if all(p.poll() is not None for p in procs):
                break
            if (mode == "mid-fsync" and time.monotonic() - started >= delay
                    and marker.exists()):
                break
            time.sleep(0.001)
        killed_how = (f"killed {time.monotonic() - started:.1f}s in"
                      + (f" while w{chosen} was in fsync" if marker.exists() else ""))
        array.kill()
        for p in procs:
            p.wait(timeout=600)
        array.mount()
    else:
        for p in procs:
            p.wait(timeout=3600)
        array.umount()
        array.mount()
        killed_how = "unmounted cleanly"
    acked = 0
    for i, folder in enumerate(folders):
        found = observe(folder)
        journal = control / f"w{i}.journal"
        check_writer(f"{args.seed}:{tag}:w{i}", journal, found,
                     f"seed {args.seed} {tag} w{i}")
        acked += sum(1 for ident in read_journal(journal).values() if ident.acked >= 0)
        run.kept[str(folder.relative_to(array.mnt))] = found
    check_kept(run, array, tag)
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
        for point in mounted:
            subprocess.run(["umount", "-l", str(point)], check=False)


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
    totals = {"acked": 0, "kills": 0, "losses": 0, "wrong": 0, "full": 0}
    try:
        Array(foreign_root, foreign, 1).mkfs()
        array.mkfs()
        array.mount()
        for rnd in range(args.rounds):
            rng = random.Random(f"{args.seed}:round:{rnd}")
            result = crash_phase(run, array, f"r{rnd:03d}", rng)
            totals["acked"] += result["acked"]
            totals["kills"] += 1
            run.say(f"round {rnd}: {result['how']}; {result['acked']} files acked, "
                    f"{result['files']} found ({result['mib']} MiB), all states allowed; "
                    f"load {os.getloadavg()[0]:.1f}")
            forget_old(run, array, 2)
            if args.degraded_every and rnd % args.degraded_every == args.degraded_every - 1:
                stale = disk_loss(run, array, rnd, rng)
                totals["losses"] += 1
                wrong_disks(run, array, rnd, stale, foreign, rng)
                totals["wrong"] += 1
                for _, s in stale:
                    shutil.rmtree(s)
            if args.enospc_every and rnd % args.enospc_every == args.enospc_every - 1:
                enospc_round(run, rnd, rng)
                totals["full"] += 1
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
          f"{totals['full']} full-array rounds; {time.monotonic() - started:.0f}s", flush=True)
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
