"""A job's folder at its destination, seen the same way whether it is on this box (a USB
disk nasfs mounted, a folder) or on another box over ssh.

Layout of a job's folder (`<destination path>/<job name>/`):

    <STAMP>/                 a complete generation (STAMP = 2026-12-01T101500Z, UTC)
    <STAMP>.manifest         its manifest (nasfs.backup.manifest), written before the rename
    .incomplete-<STAMP>/     the run in progress (or interrupted); renamed only on success

All methods are blocking (run them in a worker thread).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from nasfs.backup.results import BackupError, DestinationMissing
from nasfs.durable import fsync_dir, syncfs

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d{6}Z$")
INCOMPLETE = ".incomplete-"
PARTIAL_DIR = ".rsync-partial"


class Place(Protocol):
    hardlinks: bool  # --link-dest works (unchanged files cost nothing)
    posix: bool  # symlinks, xattrs and hard links inside a generation can be kept
    owners: bool  # owners and modes can be kept too (not on NTFS through ntfs-3g)
    exact_times: bool  # keeps times to the nanosecond (known after `prepare`)

    def describe(self) -> str: ...
    def rsync_target(self, name: str) -> str: ...
    def rsync_shell(self) -> list[str]: ...
    def prepare(self) -> None: ...
    def names(self) -> list[str]: ...
    def rename(self, old: str, new: str) -> None: ...
    def remove(self, name: str) -> None: ...
    def space(self) -> tuple[int, int] | None: ...  # (free, total) bytes, if known
    def read_text(self, name: str) -> str | None: ...
    def write_text(self, name: str, text: str) -> None: ...
    def files(self, name: str) -> Iterator[tuple[str, int]]: ...
    def open_file(self, name: str, path: str) -> IO[bytes]: ...
    def still_there(self) -> bool: ...
    # Make everything written into the job folder durable (before the manifest and the
    # rename that say a generation is complete, and before retention removes an older one).
    def flush(self) -> None: ...


# A name no generation or incomplete folder can have, and a time with every digit of its
# nanoseconds set.
TIME_PROBE = ".nasfs-time-probe"
PROBE_TIME = "1000000000.123456789"


def _keeps_nanoseconds(folder: Path) -> bool:
    """Whether the filesystem holding `folder` keeps a file's mtime to the nanosecond.

    rsync compares times to the second unless told `--modify-window=-1`, also when it
    decides whether the time of a symbolic link or folder it has just made (or found
    already there) must be set: one made within the same second as its source's time kept
    the moment it was made (tests/test_backup_runs.py caught it after a resumed run, the
    killed run having made the link less than a second after the test did). The exact
    comparison is only right where the destination keeps nanoseconds: elsewhere (ext4 with
    128-byte inodes, as mkfs makes small filesystems: whole seconds) every file would look
    changed and nothing would be hard-linked again."""
    probe = folder / TIME_PROBE
    try:
        probe.unlink(missing_ok=True)
        probe.touch()
        want = 1_000_000_000_123_456_789
        os.utime(probe, ns=(want, want))
        return os.lstat(probe).st_mtime_ns == want
    finally:
        probe.unlink(missing_ok=True)


def generations(place: Place) -> list[str]:
    """The complete generations: a stamp-named folder *with* its manifest. A run writes the
    manifest before it renames its folder to the stamp, and retention removes the manifest
    (durably) before the folder, so a folder without one is what a removal cut short by a
    crash or a power cut left: part of its files may be gone."""
    names = set(place.names())
    return sorted(n for n in names if STAMP.match(n) and f"{n}.manifest" in names)


def torn(place: Place) -> list[str]:
    """Stamp-named folders without a manifest: removals a crash cut short (see
    `generations`), to be removed again."""
    names = set(place.names())
    return sorted(n for n in names if STAMP.match(n) and f"{n}.manifest" not in names)


def incomplete(place: Place) -> list[str]:
    return sorted(n for n in place.names()
                  if n.startswith(INCOMPLETE) and STAMP.match(n[len(INCOMPLETE):]))


class LocalPlace:
    """A job folder on a filesystem mounted on this box."""

    def __init__(self, root: Path, *, hardlinks: bool, posix: bool, owners: bool = True,
                 check: object = None) -> None:
        self.root = root
        self.hardlinks = hardlinks
        self.posix = posix
        self.owners = posix and owners
        self.exact_times = False  # probed by `prepare`
        self._check = check  # a callable telling whether the disk is still mounted

    def describe(self) -> str:
        return str(self.root)

    def rsync_target(self, name: str) -> str:
        return str(self.root / name) + "/"

    def rsync_shell(self) -> list[str]:
        return []

    def prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.exact_times = _keeps_nanoseconds(self.root)
        except OSError as exc:
            raise _os_error(exc, f"cannot make the backup folder {self.root}") from None

    def names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _os_error(exc, f"cannot list {self.root}") from None

    def rename(self, old: str, new: str) -> None:
        try:
            os.rename(self.root / old, self.root / new)
            fsync_dir(self.root)
        except OSError as exc:
            raise _os_error(exc, f"cannot rename {old} to {new} in {self.root}") from None

    def remove(self, name: str) -> None:
        target = self.root / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        else:
            return
        # Gone for good before the caller goes on: retention removes a manifest durably
        # before its generation's folder (see `generations`).
        fsync_dir(self.root)

    def space(self) -> tuple[int, int] | None:
        try:
            st = os.statvfs(self.root)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def read_text(self, name: str) -> str | None:
        try:
            return (self.root / name).read_text()
        except FileNotFoundError:
            return None

    def write_text(self, name: str, text: str) -> None:
        tmp = self.root / (name + ".tmp")
        try:
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / name)
        except OSError as exc:
            raise _os_error(exc, f"cannot write {name} in {self.root}") from None

    def files(self, name: str) -> Iterator[tuple[str, int]]:
        for path, size, _ in self.stats(name):
            yield path, size

    def stats(self, name: str) -> Iterator[tuple[str, int, int]]:
        """(path, size, mtime_ns) of every regular file of `name`: one lstat per file
        (the entry types come with the listing), the partial-dir left out."""
        stack = [(self.root / name, "")]
        while stack:
            folder, rel = stack.pop()
            with os.scandir(folder) as listing:
                for e in listing:
                    path = f"{rel}{e.name}"
                    if e.is_dir(follow_symlinks=False):
                        if e.name != PARTIAL_DIR:
                            stack.append((Path(e.path), path + "/"))
                    elif e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        yield path, st.st_size, st.st_mtime_ns

    def open_file(self, name: str, path: str) -> IO[bytes]:
        return open(self.root / name / path, "rb")

    def flush(self) -> None:
        # rsync and cp -al write without fsync: one syncfs of the destination's filesystem
        # writes back every file of the generation (and the folders holding them).
        try:
            syncfs(self.root)
        except OSError as exc:
            raise _os_error(exc, f"cannot write the copy in {self.root} to the disk") from None

    def still_there(self) -> bool:
        return self._check() if callable(self._check) else self.root.is_dir()


class SshPlace:
    """A job folder on another box, reached with nasfs's key and the pinned host key."""

    def __init__(self, user: str, host: str, port: int, root: str, ssh: list[str]) -> None:
        self.user, self.host, self.port, self.root = user, host, port, root.rstrip("/")
        self.ssh = ssh  # ['ssh', '-i', KEY, '-o', ..., '-p', PORT]
        self.hardlinks = True
        self.posix = True
        self.owners = True
        self.exact_times = False  # probed by `prepare`

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.root}"

    def rsync_target(self, name: str) -> str:
        return f"{self.user}@{self._host()}:{self.root}/{name}/"

    def _host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def rsync_shell(self) -> list[str]:
        return ["-e", shlex.join(self.ssh)]

    def run(self, script: str, *, check: bool = True) -> str:
        done = subprocess.run([*self.ssh, f"{self.user}@{self.host}", script],
                              capture_output=True, text=True, check=False)
        if done.returncode == 255:
            raise DestinationMissing(f"cannot reach {self.describe()}: {done.stderr.strip()}")
        if check and done.returncode != 0:
            raise BackupError(f"on {self.host}: {done.stderr.strip() or script}")
        return done.stdout

    def _q(self, name: str = "") -> str:
        return shlex.quote(f"{self.root}/{name}" if name else self.root)

    def prepare(self) -> None:
        # The folder, and in the same call whether the other box's filesystem keeps a time
        # to the nanosecond (see _keeps_nanoseconds).
        probe = self._q(TIME_PROBE)
        out = self.run(f"mkdir -p {self._q()} && touch -d @{PROBE_TIME} {probe} && "
                       f"stat -c %.9Y {probe}; rm -f {probe}", check=False)
        self.exact_times = out.strip() == PROBE_TIME
        if not out.strip():  # the mkdir failed: say why
            self.run(f"mkdir -p {self._q()}")

    def names(self) -> list[str]:
        out = self.run(f"cd {self._q()} 2>/dev/null && ls -1a || true")
        return sorted(n for n in out.splitlines() if n not in ("", ".", ".."))

    def rename(self, old: str, new: str) -> None:
        self.run(f"mv -T {self._q(old)} {self._q(new)} && sync -f {self._q()}")

    def remove(self, name: str) -> None:
        self.run(f"rm -rf -- {self._q(name)} && sync -f {self._q()}")

    def flush(self) -> None:
        # The other box's rsync writes without fsync too: sync its filesystem (syncfs).
        self.run(f"sync -f {self._q()}")

    def space(self) -> tuple[int, int] | None:
        out = self.run(f"df -B1 --output=avail,size {self._q()} | tail -n1", check=False)
        words = out.split()
        if len(words) != 2 or not all(w.isdigit() for w in words):
            return None
        return int(words[0]), int(words[1])

    def read_text(self, name: str) -> str | None:
        out = self.run(f"cat {self._q(name)} 2>/dev/null || echo __nasfs_missing__")
        return None if out == "__nasfs_missing__\n" else out

    def write_text(self, name: str, text: str) -> None:
        tmp = self._q(name + ".tmp")
        done = subprocess.run([*self.ssh, f"{self.user}@{self.host}",
                               f"cat > {tmp} && sync {tmp} && mv -f {tmp} {self._q(name)}"],
                              input=text, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackupError(f"cannot write {name} on {self.host}: {done.stderr.strip()}")

    def files(self, name: str) -> Iterator[tuple[str, int]]:
        out = self.run(f"cd {self._q(name)} && find . -name {PARTIAL_DIR} -prune -o -type f "
                       "-printf '%s %P\\0'")
        for item in out.split("\0"):
            if item:
                size, _, path = item.partition(" ")
                yield path, int(size)

    def open_file(self, name: str, path: str) -> IO[bytes]:
        proc = subprocess.Popen([*self.ssh, f"{self.user}@{self.host}",
                                 f"cat -- {shlex.quote(f'{self.root}/{name}/{path}')}"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        return proc.stdout

    def still_there(self) -> bool:
        try:
            self.run("true")
        except BackupError:
            return False
        return True


def _os_error(exc: OSError, what: str) -> BackupError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError(f"{what}: the destination is full", "destination_full")
    if exc.errno in (errno.EIO, errno.ENODEV, errno.ENXIO, errno.ENOTCONN, errno.ESTALE):
        return DestinationMissing(f"{what}: {exc.strerror} (was the disk removed?)")
    return BackupError(f"{what}: {exc.strerror}")
