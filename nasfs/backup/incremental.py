"""The incremental copy: a new generation made from the previous one and the snapshot diff.

A good run to a destination that can hard-link keeps its snapshot as the job's **base**
(named in the generation's manifest, `"snapshot"`). The next run asks the filesystem what
changed in the job's folder between the base and its own snapshot (nasfs.fs.snapshot_diff:
the inode rows tell, nothing is read through FUSE) and then:

1. makes the new generation a hard-link copy of the previous one (`link_copy`: a folder of
   its own for each folder, with its mode, owner, xattrs and times; a hard link for
   everything else), resumable: what is there already is left;
2. writes the paths it is about to change beside the folder (`.incomplete-STAMP.paths`,
   fsynced), so a resumed run knows what a killed one may have touched;
3. removes the removed paths, and unlinks every changed or added path that is still a hard
   link of the previous generation's file: rsync then writes it as a **new inode** (a file
   shared with older generations is never changed in place: no `--inplace`, and no
   metadata change applied to a shared inode);
4. rsyncs only the changed and added paths and their folders (`--files-from`), each
   folder's own attributes set from the snapshot;
5. builds the manifest from the previous one: its entries for every path not touched, the
   digests of the files just copied for the others.

`unusable` says why the full copy must run instead (no previous generation, no base, a
manifest that does not name it, another job setup, a destination without hard links, a
filter, an interrupted run that was not incremental); the daemon's glue returns no changes
when the base snapshot is gone or the policy changed between the two snapshots. A hard
link inside the source among the changed files also takes the full copy (rsync -H links
only what it is given). Over ssh and to the cloud the full copy always runs: making a
hard-link copy there needs a command on the other side (`cp -al`) whose result nasfs cannot
check the way it checks a local folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from nasfs.backup.model import Job
from nasfs.backup.places import PARTIAL_DIR
from nasfs.durable import fsync_dir

PATHS_SUFFIX = ".paths"
# Attribute namespaces rsync -X copies as root (system.* are ACLs and the like: not -X's).
_COPIED_XATTRS = ("user.", "trusted.", "security.")
# The share's own folders, never copied (rsync's --exclude=/#snapshot --exclude=/#trash).
_NEVER = ("#snapshot", "#trash")
# How often a running `cp -al` looks whether the run was cancelled.
CANCEL_POLL_S = 0.1
# Below this many files the link copy is the walk: starting cp costs 4-8 ms, the walk
# about 35 us a file (0.2 ms for 4 files against 4.5-7.5 ms for cp -al of them).
WALK_BELOW_FILES = 200


@dataclass(frozen=True)
class SnapshotChanges:
    """Paths (relative to the job's folder) added, changed and removed between two
    snapshots; every path below an added or removed folder is listed too."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    def without_share_folders(self) -> SnapshotChanges:
        def keep(paths: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(p for p in paths if p.split("/", 1)[0] not in _NEVER)

        return SnapshotChanges(keep(self.added), keep(self.changed), keep(self.removed))


def setup(job: Job, *, posix: bool, owners: bool) -> str:
    """What makes two generations comparable: a previous generation made with another
    source, filter or metadata set is not a base for this one."""
    return json.dumps({"source": job.source, "include": list(job.options.include),
                       "exclude": list(job.options.exclude), "posix": posix,
                       "owners": owners}, sort_keys=True)


def unusable(job: Job, *, hardlinks: bool, owners: bool, local: bool,
             last_good: str | None, head: dict[str, object], job_setup: str,
             leftover: str | None, leftover_paths: bool) -> str | None:
    """Why the incremental copy cannot run (None: it can, given the snapshot's changes)."""
    if not local:
        return "the destination is not on this box"
    if not hardlinks:
        return "the destination cannot hard-link"
    if not owners:
        # NTFS through ntfs-3g: the hard-link copy's folders could not be given the
        # previous generation's owners and modes as the walk gives them.
        return "the destination does not keep owners and modes"
    if last_good is None:
        return "no previous generation"
    if head.get("generation") != last_good:
        return "the previous generation's manifest is missing or names another"
    if not isinstance(head.get("snapshot"), str):
        return "the previous generation has no base snapshot"
    if head.get("setup") != job_setup:
        return "the job's source, filters or metadata changed since the previous generation"
    if job.options.include or job.options.exclude:
        return "the job has include/exclude filters"
    if leftover is not None and not leftover_paths:
        return "an interrupted full copy is continued"
    return None


def hard_linked(source: Path, changes: SnapshotChanges) -> str | None:
    """A changed or added regular file with other links in the snapshot, if any."""
    for path in (*changes.added, *changes.changed):
        try:
            st = os.lstat(source / path)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            return path
    return None


# -- the folder ---------------------------------------------------------------------------


def link_copy(previous: Path, work: Path, cancelled: Callable[[], bool], *,
              walk: bool = False) -> None:
    """Make `work` a copy of `previous` in which every non-folder is a hard link of the
    previous one's. A new folder is made by `cp -al` (20,000 files: 0.45-0.55 CPU-s against
    0.61-0.83 for the walk below, docs/backup.md), or with `walk` (a small generation,
    `WALK_BELOW_FILES`) by the walk; a folder a killed run left is completed by the walk,
    which leaves what is there already and sets every folder's attributes.
    Raises InterruptedError when `cancelled()` (cp is killed: the next run's walk completes
    what it made)."""
    if not walk and not os.path.lexists(work):
        # stderr to a file: a pipe nobody reads while waiting could fill and block cp.
        with tempfile.TemporaryFile() as errors:
            cp = subprocess.Popen(["cp", "-al", "--", str(previous), str(work)],
                                  stdout=subprocess.DEVNULL, stderr=errors)
            while True:
                if cancelled():
                    cp.kill()
                    cp.wait()
                    raise InterruptedError("cancelled")
                try:
                    cp.wait(timeout=CANCEL_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    continue
            errors.seek(0)
            err = errors.read().decode(errors="replace")
        if cp.returncode == 0:
            return
        if not os.path.isdir(work):
            raise OSError(errno.EIO, f"cp -al failed: {err.strip()}")
        # cp made part of it (the disk full?): the walk says what is wrong, or completes it.
    link_walk(previous, work, cancelled)


def link_walk(previous: Path, work: Path, cancelled: Callable[[], bool]) -> int:
    """`link_copy` by a walk: what `work` holds already is left as it is. Returns the
    links made."""
    made = 0
    work.mkdir(exist_ok=True)
    # (source folder, target folder, done with its entries): times are set after them.
    stack: list[tuple[Path, Path, bool]] = [(previous, work, False)]
    while stack:
        src, dst, entries_done = stack.pop()
        if entries_done:
            copy_folder_attrs(src, dst)
            continue
        if cancelled():
            raise InterruptedError("cancelled")
        stack.append((src, dst, True))
        with os.scandir(src) as listing:
            for e in listing:
                target = dst / e.name
                if e.is_dir(follow_symlinks=False):
                    if e.name == PARTIAL_DIR:
                        continue
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(target)
                    stack.append((Path(e.path), target, False))
                    continue
                try:
                    os.link(e.path, target, follow_symlinks=False)
                    made += 1
                except FileExistsError:
                    pass
    return made


def copy_folder_attrs(src: Path, dst: Path) -> None:
    """Owner, mode, xattrs and times of folder `src` onto folder `dst` (as rsync -aX)."""
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    try:
        names = [n for n in os.listxattr(src) if n.startswith(_COPIED_XATTRS)]
        for n in os.listxattr(dst):
            if n.startswith(_COPIED_XATTRS) and n not in names:
                os.removexattr(dst, n)
        for n in names:
            os.setxattr(dst, n, os.getxattr(src, n))
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def unshare(work: Path, previous: Path, cancelled: Callable[[], bool]) -> int:
    """Unlink every non-folder of `work` that is the same inode as `previous`'s file at
    that path, so that rsync continuing in `work` makes its own (a hard link again, with
    --link-dest, when nothing changed) instead of changing a shared inode's mode, owner or
    times in place. Returns the links removed."""
    removed = 0
    stack = [(work, previous)]
    while stack:
        here, before = stack.pop()
        if cancelled():
            raise InterruptedError("cancelled")
        with os.scandir(here) as listing:
            for e in listing:
                if e.is_dir(follow_symlinks=False):
                    if e.name != PARTIAL_DIR:
                        stack.append((Path(e.path), before / e.name))
                    continue
                mine = e.stat(follow_symlinks=False)
                if mine.st_nlink > 1 and _same_inode(Path(e.path), before / e.name):
                    os.unlink(e.path)
                    removed += 1
    return removed


def paths_file(root: Path, work: str) -> Path:
    return root / (work + PATHS_SUFFIX)


def recorded(root: Path, work: str) -> set[str]:
    """The paths earlier attempts at `work` were about to change."""
    try:
        text = paths_file(root, work).read_bytes()
    except FileNotFoundError:
        return set()
    return {p.decode("utf-8", "surrogateescape") for p in text.split(b"\0") if p}


def record(root: Path, work: str, paths: Iterable[str]) -> None:
    """Write `paths` durably beside `work` before any of them is touched."""
    target = paths_file(root, work)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(b"\0".join(sorted(p.encode("utf-8", "surrogateescape") for p in paths)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    fsync_dir(root)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except FileNotFoundError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _topmost(paths: Iterable[str]) -> list[str]:
    """`paths` without those below another of them."""
    out: list[str] = []
    for p in sorted(paths, key=lambda p: (p.count("/"), p)):
        if not any(p.startswith(q + "/") for q in out):
            out.append(p)
    return out


def prepare(source: Path, previous: Path, work: Path, changes: SnapshotChanges,
            earlier: set[str]) -> None:
    """Make `work` (a link copy of `previous`, perhaps touched by a killed attempt that was
    about to change `earlier`) ready for rsync to copy `changes` into it."""
    now = set(changes.added) | set(changes.changed) | set(changes.removed)
    # What a killed attempt touched and is unchanged since the base: as the previous
    # generation has it again (a fresh link copy of it), or gone when it has none.
    for path in _topmost(earlier - now):
        _remove(work / path)
        before = previous / path
        if before.is_dir() and not before.is_symlink():
            os.makedirs(work / path, exist_ok=True)
            link_walk(before, work / path, lambda: False)
        elif os.path.lexists(before):
            os.link(before, work / path, follow_symlinks=False)
    for path in _topmost(changes.removed):
        _remove(work / path)
    for path in sorted({*changes.added, *changes.changed}):
        here = work / path
        if not os.path.lexists(here):
            continue
        try:
            want = os.lstat(source / path).st_mode
        except FileNotFoundError:
            continue
        have = os.lstat(here).st_mode
        if stat.S_IFMT(have) != stat.S_IFMT(want):
            _remove(here)
        elif not stat.S_ISDIR(have) and _same_inode(here, previous / path):
            here.unlink()  # rsync writes it anew; the older generations keep theirs


def drop_rsync_leftovers(source: Path, work: Path, earlier: set[str]) -> None:
    """Remove the temporary files a killed rsync left beside the files it was writing
    (`.NAME.XXXXXX` in NAME's folder; SIGKILL gives it no chance to): a full copy's
    --delete removes them, here nothing else would. A name the snapshot has is never
    removed; partial-dirs are left for rsync to continue from (`drop_partial_dirs`)."""
    names: dict[str, set[str]] = {}
    for path in earlier:
        folder, _, name = path.rpartition("/")
        names.setdefault(folder, set()).add(name)
    for folder, wanted in names.items():
        here = work / folder if folder else work
        try:
            entries = os.listdir(here)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            rel = f"{folder}/{entry}" if folder else entry
            if os.path.lexists(source / rel):
                continue
            temp = entry.startswith(".") and len(entry) > 8 and entry[-7] == "." \
                and entry[1:-7] in wanted
            if temp:
                _remove(here / entry)


def drop_partial_dirs(work: Path, paths: Iterable[str]) -> None:
    """Remove the partial-dirs rsync left in the folders of `paths` (a cancelled run's
    halves of files the copy that completed no longer needed)."""
    for folder in {p.rpartition("/")[0] for p in paths}:
        _remove((work / folder if folder else work) / PARTIAL_DIR)


def files_from(changes: SnapshotChanges, earlier: set[str],
               exists: Callable[[str], bool]) -> bytes:
    """rsync's --files-from list (NUL-separated): the changed and added paths, every folder
    above them and above what was removed or touched before that the snapshot still has
    (`exists`: a removed folder's files are removed too), and the top folder itself."""
    listed = {".", *changes.added, *changes.changed}
    above: set[str] = set()
    for path in (*changes.added, *changes.changed, *changes.removed, *earlier):
        parts = path.split("/")[:-1]
        above.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    listed |= {p for p in above - listed if exists(p)}
    return b"\0".join(p.encode("utf-8", "surrogateescape") for p in sorted(listed)) + b"\0"


def touched(changes: SnapshotChanges) -> set[str]:
    """Paths whose previous manifest entries no longer hold."""
    return {*changes.added, *changes.changed, *changes.removed}


def copied_files(work: Path, changes: SnapshotChanges) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of the regular files rsync has just written."""
    out = []
    for path in {*changes.added, *changes.changed}:
        try:
            st = os.lstat(work / path)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((path, st.st_size, st.st_mtime_ns))
    return out
