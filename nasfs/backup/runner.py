"""One backup run, and the other operations that reach a job's destination (generations,
verify, restore).

A run: take a snapshot for the job (locked while the run needs it) → open the destination
(mount the USB disk, reach the box, the remote) → reuse an interrupted run's
`.incomplete-*` folder (renamed to this run's stamp) → copy from the snapshot's folder
`MOUNT/SHARE/#snapshot/<snapshot>/FOLDER/` (never the live tree) → check the destination is
still there → manifest → verify (option) → rename `.incomplete-STAMP` to `STAMP` → apply
retention (only now: never after a failure) → close the destination → delete the snapshot.
A failure at any step leaves the earlier generations as they were and the incomplete one
for the next run to continue.

Everything that touches the destination blocks and runs in a worker thread; the snapshot
calls run on the trio thread (the filesystem's rule), through the `Context`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasfs.backup import hash_behind, incremental, manifest, places, tools
from nasfs.backup.incremental import SnapshotChanges
from nasfs.backup.model import Job
from nasfs.backup.places import INCOMPLETE, Place
from nasfs.backup.results import GOOD, BackupError, Outcome, from_rclone, from_rsync
from nasfs.backup.retention import to_remove

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a run needs from the daemon that owns the array."""

    mountpoint: Path
    run_dir: Path
    take_snapshot: Callable[[str], Awaitable[str]]  # name wanted → name taken (locked)
    drop_snapshot: Callable[[str], Awaitable[None]]
    snapshot_names: Callable[[], list[str]]
    now: Callable[[], float] = time.time
    stopping: Callable[[], bool] = lambda: False
    # Whether anything of the volume had extended attributes at the snapshot (called on
    # the trio thread); True keeps rsync's -X whatever the source.
    snapshot_has_xattrs: Callable[[str], bool] = lambda name: True
    # Unlock a snapshot kept as a job's base (async, on the trio thread).
    release_snapshot: Callable[[str], Awaitable[None]] | None = None
    # What changed in a folder (from the volume root) between a base snapshot and a newer
    # one (called on the trio thread); None when the base is gone or the policy changed.
    snapshot_changes: Callable[[str, str, str], SnapshotChanges | None] = (
        lambda base, new, folder: None)


@dataclass
class RunState:
    """A run in progress: its progress for `status`, and how to cancel it."""

    job: str
    progress: tools.Progress = field(default_factory=tools.Progress)
    cancel: threading.Event = field(default_factory=threading.Event)
    generation: str | None = None
    # The previous good run's snapshot (the base of an incremental copy), and the snapshot
    # to keep as the next run's base once this one is good (nasfs.backup.incremental).
    base_snapshot: str | None = None
    keep_snapshot: str | None = None
    snapshot: str | None = None  # this run's own
    read_manifest: bool = False  # the previous generation's manifest was looked at
    copy_path: str = ""  # which copy ran and why, for the log and the result's detail
    # Digests of a local generation's files taken while rsync copied (candidates only:
    # manifest.build_local checks each against the file's state at the end).
    hashed: dict[str, hash_behind.Hashed] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    result: str
    detail: str
    generation: str | None = None
    files: int | None = None
    bytes: int | None = None
    sent_bytes: int | None = None
    removed: tuple[str, ...] = ()
    removable: str | None = None  # USB: "may be removed" message when the disk was let go
    # (free, total) bytes at the destination after the run, for the space notice; not in
    # the answer (run results keep their shape).
    space: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        body = {**self.__dict__, "removed": list(self.removed)}
        body.pop("space")
        return body


def stamp(at_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(at_s))


def stamp_time(name: str) -> float:
    import calendar

    return float(calendar.timegm(time.strptime(name, "%Y-%m-%dT%H%M%SZ")))


def snapshot_prefix(job: str) -> str:
    return f"backup-{job}-"


def is_job_snapshot(job: str, name: str) -> bool:
    """Whether snapshot `name` is one of job `job`'s (not one of job `job-2`'s)."""
    prefix = snapshot_prefix(job)
    return name.startswith(prefix) and places.STAMP.match(name[len(prefix):]) is not None


@contextlib.contextmanager
def open_place(job: Job, ctx: Context, *, eject: bool = False) -> Iterator[Place]:
    """The job's folder at its destination, reachable for the duration."""
    dest = job.destination
    if dest.kind == "folder":
        from nasfs.backup.usb import NO_HARDLINKS

        root = Path(dest.path)
        if not root.is_dir():
            from nasfs.backup.results import DestinationMissing

            raise DestinationMissing(f"the destination folder {root} does not exist")
        fstype = _fstype(root)
        yield places.LocalPlace(root / job.key, hardlinks=fstype not in NO_HARDLINKS,
                                posix=fstype not in NO_HARDLINKS)
    elif dest.kind == "usb":
        from nasfs.backup import usb

        assert dest.uuid is not None
        with usb.mounted(ctx.run_dir, dest.uuid, eject=eject) as (where, disk):
            fstype = disk.fstype or _fstype(where)
            uuid = dest.uuid
            yield places.LocalPlace(where / dest.path / job.key,
                                    hardlinks=fstype not in usb.NO_HARDLINKS,
                                    posix=fstype not in usb.NOT_POSIX,
                                    owners=fstype not in usb.NO_OWNERS,
                                    check=lambda: usb.is_mounted_here(where, uuid))
    elif dest.kind == "ssh":
        from nasfs.backup.sshkeys import ssh_command

        assert dest.host is not None
        yield places.SshPlace(dest.user, dest.host, dest.port, f"{dest.path}/{job.key}",
                              ssh_command(dest, job.key))
    else:
        from nasfs.backup.cloud import CloudPlace

        yield CloudPlace(job.key, dest)  # type: ignore[misc]


def _fstype(path: Path) -> str:
    """The type of the filesystem holding `path`, from the kernel's mount table (read, not
    asked of findmnt: a process start was a quarter of an unchanged small run's time)."""
    mounts: dict[str, str] = {}
    try:
        with open("/proc/self/mounts") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 3:  # the last mount at a place is the one seen
                    mounts[_unescape(fields[1])] = fields[2]
    except OSError:
        return "unknown"
    here = os.path.realpath(path)
    while True:
        if here in mounts:
            return mounts[here]
        parent = os.path.dirname(here)
        if parent == here:
            return "unknown"
        here = parent


def _unescape(field: str) -> str:
    """A mount table field as the path it is (the kernel writes space, tab, newline and
    backslash as octal escapes)."""
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def source_dir(ctx: Context, job: Job, snapshot: str) -> Path:
    base = ctx.mountpoint / job.share / "#snapshot" / snapshot
    return base / job.folder if job.folder else base


async def run_job(job: Job, ctx: Context, state: RunState) -> RunResult:
    """Run `job` once (see the module docstring). Never raises for a failed run: the
    result says what happened."""
    import trio

    now = ctx.now()
    gen = stamp(now)
    state.generation = gen
    state.progress.enter("snapshot")
    # The job's other snapshots (its base, and any a killed daemon left) are dropped after
    # the run, all but the one the next run needs.
    taken = set(ctx.snapshot_names())
    wanted = gen
    while snapshot_prefix(job.key) + wanted in taken:  # the base of a run this second
        wanted = stamp(stamp_time(wanted) + 1)
    try:
        snapshot = await ctx.take_snapshot(snapshot_prefix(job.key) + wanted)
    except Exception as exc:
        return RunResult("failed", f"could not take the snapshot to copy from: {exc}")
    state.snapshot = snapshot
    try:
        try:
            xattrs = ctx.snapshot_has_xattrs(snapshot)
        except Exception:  # not known: copy them as always
            log.warning("could not tell whether %s has xattrs", snapshot, exc_info=True)
            xattrs = True
        return await trio.to_thread.run_sync(_copy_phase, job, ctx, state, snapshot, gen,
                                             now, xattrs)
    finally:
        with trio.CancelScope(shield=True):
            state.progress.enter("drop snapshot")
            keep = state.keep_snapshot or state.base_snapshot
            if state.keep_snapshot is not None or state.read_manifest:
                await _drop_others(job, ctx, keep=keep, this=snapshot)
            # else the run never reached the destination (a USB disk not plugged in): which
            # snapshot is its base is not known, and dropping it would make the next run a
            # full copy.
            try:
                if snapshot == keep and ctx.release_snapshot is not None:
                    await ctx.release_snapshot(snapshot)
                else:
                    await ctx.drop_snapshot(snapshot)
            except Exception:
                log.exception("could not release or delete the backup snapshot %s", snapshot)
            log.info("backup run of %s (%s; %d files hashed while copying): %s", job.name,
                     state.copy_path or "no copy", len(state.hashed),
                     state.progress.timings())


async def _drop_others(job: Job, ctx: Context, *, keep: str | None,
                       this: str | None = None) -> None:
    """Drop the job's snapshots but `keep` and `this` (the run's own, handled apart):
    a base no longer needed, those a killed daemon left (they hold space)."""
    for name in ctx.snapshot_names():
        if is_job_snapshot(job.key, name) and name not in (keep, this):
            try:
                await ctx.drop_snapshot(name)
            except Exception:
                log.warning("could not delete the backup snapshot %s", name, exc_info=True)


def _copy_phase(job: Job, ctx: Context, state: RunState, snapshot: str, gen: str,
                now: float, xattrs: bool = True) -> RunResult:
    import trio

    source = source_dir(ctx, job, snapshot)
    folder = f"{job.share}/{job.folder}" if job.folder else job.share

    def changes_since(base: str) -> SnapshotChanges | None:
        return trio.from_thread.run_sync(ctx.snapshot_changes, base, snapshot, folder)

    def cancelled() -> bool:
        return state.cancel.is_set() or ctx.stopping()

    if not source.is_dir():
        return RunResult("failed", f"the source {job.source} is not a folder in the snapshot "
                                   "(does the share or folder exist?)")
    removable = None
    try:
        state.progress.enter("open")
        with open_place(job, ctx, eject=job.options.eject) as place:
            result = _copy_into(job, place, source, gen, now, state, cancelled, xattrs,
                                changes_since)
            if result.result in GOOD and isinstance(place, places.LocalPlace) \
                    and place.hardlinks and place.owners:
                state.keep_snapshot = snapshot
            state.progress.enter("close")
        if job.destination.kind == "usb":
            from nasfs.backup.usb import in_use

            # Said only when true: another operation of the daemon (a generations listing,
            # a verify) may still hold the disk, and the last one unmounts it.
            uuid = job.destination.uuid or ""
            if not in_use(ctx.run_dir, uuid):
                removable = (f"the USB disk {uuid} was unmounted"
                             + (" and ejected" if job.options.eject else "")
                             + "; it may be removed")
    except BackupError as exc:
        return RunResult(exc.result, str(exc), generation=None)
    except InterruptedError:  # a step that checks `cancelled` itself (cp -al, a walk)
        return _cancelled(state)
    except OSError as exc:
        from nasfs.backup.places import _os_error

        err = _os_error(exc, "the backup failed")
        return RunResult(err.result, str(err))
    if removable is not None:
        import dataclasses

        result = dataclasses.replace(result, removable=removable)
    return result


def _copy_into(job: Job, place: Place, source: Path, gen: str, now: float, state: RunState,
               cancelled: Callable[[], bool], xattrs: bool = True,
               changes_since: Callable[[str], SnapshotChanges | None] = lambda base: None,
               ) -> RunResult:
    place.prepare()
    for left in places.torn(place):  # a removal a crash cut short: finish it
        place.remove(left)
    done = places.generations(place)
    while gen in done:  # two runs within one second: the next free second
        gen = stamp(stamp_time(gen) + 1)
    state.generation = gen
    last_good = done[-1] if done else None
    previous_text = place.read_text(f"{last_good}.manifest") if last_good else None
    head = manifest.head(previous_text)
    if isinstance(head.get("snapshot"), str):
        state.base_snapshot = str(head["snapshot"])
    state.read_manifest = True
    local = isinstance(place, places.LocalPlace)
    work = INCOMPLETE + gen
    leftovers = places.incomplete(place)
    leftover_paths = False
    if leftovers:
        # Resume: the newest interrupted run's folder holds what was copied already.
        place.rename(leftovers[-1], work)
        if isinstance(place, places.LocalPlace):
            old_paths = incremental.paths_file(place.root, leftovers[-1])
            if old_paths.exists():
                os.replace(old_paths, incremental.paths_file(place.root, work))
                leftover_paths = True
        for old in leftovers[:-1]:
            place.remove(old)
            if isinstance(place, places.LocalPlace):
                incremental.paths_file(place.root, old).unlink(missing_ok=True)
    # rsync may leave -X out only when nothing it compares with can hold an attribute the
    # source lacks: not the previous generation (unless its manifest says it had none),
    # not an interrupted run's files (copied from an older snapshot).
    copy_xattrs = (xattrs or bool(leftovers)
                   or (last_good is not None and manifest.had_xattrs(previous_text) is not False))
    job_setup = incremental.setup(job, posix=place.posix, owners=place.owners)
    why_full = incremental.unusable(job, hardlinks=place.hardlinks, owners=place.owners,
                                    local=local,
                                    last_good=last_good, head=head, job_setup=job_setup,
                                    leftover=leftovers[-1] if leftovers else None,
                                    leftover_paths=leftover_paths)
    changes = None
    if why_full is None:
        changes = changes_since(str(head["snapshot"]))
        if changes is None:
            why_full = ("the base snapshot is gone, or shares, ACLs or accounts changed "
                        "since it")
        else:
            changes = changes.without_share_folders()
            linked = incremental.hard_linked(source, changes)
            if linked is not None:
                why_full = f"{linked} has other hard links in the source"
    previous = manifest.loads(previous_text)
    if why_full is None and isinstance(place, places.LocalPlace) and changes is not None:
        assert last_good is not None
        state.copy_path = (f"incremental: {len(changes.added)} added, "
                           f"{len(changes.changed)} changed, {len(changes.removed)} removed")
        outcome = _copy_incremental(job, place, source, work, last_good, changes, state,
                                    cancelled, copy_xattrs, previous_files=len(previous))
    else:
        state.copy_path = f"full copy: {why_full}"
        if leftovers and last_good is not None and isinstance(place, places.LocalPlace) \
                and place.hardlinks:
            # A resumed folder holds hard links of the previous generation's files: rsync
            # would change a link's mode or owner in place, the older generation's too.
            state.progress.enter("unshare")
            incremental.unshare(place.root / work, place.root / last_good, cancelled)
        if isinstance(place, places.LocalPlace):
            incremental.paths_file(place.root, work).unlink(missing_ok=True)
        state.progress.enter("copy")
        outcome = _copy(job, place, source, work, last_good, state, cancelled, copy_xattrs)
    if outcome.result not in GOOD:
        if cancelled() and outcome.result != "destination_full":
            return _cancelled(state)
        return RunResult(outcome.result, outcome.detail)
    if not place.still_there():
        return RunResult("destination_missing", "the destination went away during the run "
                                                "(disk removed or unmounted); the earlier "
                                                "generations are as they were")
    state.progress.enter("manifest")
    if isinstance(place, places.LocalPlace) and changes is not None and why_full is None:
        gone = incremental.touched(changes)
        kept = [e for p, e in previous.items() if p not in gone]
        fresh = manifest.build_local(place.root / work,
                                     incremental.copied_files(place.root / work, changes),
                                     {}, cancelled, state.hashed)
        entries = sorted([*kept, *fresh], key=lambda e: e.path)
    elif isinstance(place, places.LocalPlace):
        entries = manifest.build_local(place.root / work, place.stats(work), previous,
                                       cancelled, state.hashed)
    else:
        entries = manifest.build(source, list(place.files(work)), previous, cancelled)
    if job.options.verify:
        state.progress.enter("verify")
        if local:
            bad = manifest.differences(entries, source, previous, cancelled)
        else:
            report = manifest.verify({e.path: e for e in entries}, place.files(work),
                                     lambda p: place.open_file(work, p), cancelled)
            bad = report.changed + report.missing + report.extra
        if bad:
            return RunResult("failed", f"verification after the copy failed: {len(bad)} "
                                       f"files differ from the snapshot ({', '.join(bad[:5])})")
    # The copy's data on the destination's disk before its manifest and name say it is
    # complete: a power cut after the rename must not leave a named generation of empty
    # files while retention has removed an older one.
    state.progress.enter("flush")
    place.flush()
    base = state.snapshot if local and place.hardlinks and place.owners else None
    place.write_text(f"{gen}.manifest", manifest.dumps(gen, entries, xattrs=xattrs,
                                                      snapshot=base, setup=job_setup))
    if not place.still_there():
        return RunResult("destination_missing", "the destination went away during the run")
    place.rename(work, gen)
    if isinstance(place, places.LocalPlace):
        incremental.paths_file(place.root, work).unlink(missing_ok=True)
    state.progress.enter("rotate")
    complete = places.generations(place)
    removed = to_remove([(g, stamp_time(g)) for g in complete], job.retention, now)
    for old in removed:
        # The manifest first: a folder without one is no generation (places.generations),
        # so a crash in the middle of removing the files never leaves a named, torn one.
        place.remove(f"{old}.manifest")
        place.remove(old)
    return RunResult(outcome.result, f"{outcome.detail} ({state.copy_path})", generation=gen,
                     files=len(entries), bytes=sum(e.size for e in entries),
                     sent_bytes=state.progress.bytes_done, removed=tuple(removed),
                     space=_space(place))


def _cancelled(state: RunState) -> RunResult:
    return RunResult("cancelled", "the run was cancelled; the next run continues it"
                     if state.cancel.is_set() else "the daemon is stopping; the next run "
                     "continues this one")


def _copy_incremental(job: Job, place: places.LocalPlace, source: Path, work: str,
                      last_good: str, changes: SnapshotChanges, state: RunState,
                      cancelled: Callable[[], bool], xattrs: bool, *,
                      previous_files: int) -> Outcome:
    """The incremental copy (nasfs.backup.incremental): a link copy of `last_good`
    (`previous_files`: the files its manifest lists), the changed paths recorded, made
    ready and rsynced."""
    previous, folder = place.root / last_good, place.root / work
    state.progress.enter("link")
    incremental.link_copy(previous, folder, cancelled,
                          walk=previous_files < incremental.WALK_BELOW_FILES)
    earlier = incremental.recorded(place.root, work)
    incremental.record(place.root, work, earlier | incremental.touched(changes))
    incremental.prepare(source, previous, folder, changes, earlier)
    incremental.drop_rsync_leftovers(source, folder, earlier)
    state.progress.enter("copy")
    if not (earlier or changes.added or changes.changed or changes.removed):
        # Nothing changed below the folder: what rsync would do is set the folder's own
        # attributes (the diff does not cover them), without starting rsync for it.
        incremental.copy_folder_attrs(source, folder)
        return Outcome("ok", "complete")
    fd, name = tempfile.mkstemp(prefix="nasfs-backup-files-from-")
    listing = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(incremental.files_from(changes, earlier,
                                           lambda p: os.path.lexists(source / p)))
        argv = ["rsync", *tools.metadata_args(posix=place.posix, owners=place.owners,
                                              xattrs=xattrs, exact_times=place.exact_times),
                f"--files-from={listing}", "--from0", f"--partial-dir={tools.PARTIAL_DIR}",
                "--info=progress2", "--no-human-readable"]
        if job.options.bwlimit_kib:
            argv.append(f"--bwlimit={job.options.bwlimit_kib}")
        argv += [str(source) + "/", place.rsync_target(work)]
        code, err = _rsync_hashing(argv, folder, state, cancelled)
    finally:
        listing.unlink(missing_ok=True)
    outcome = from_rsync(code, err)
    if outcome.result in GOOD:
        incremental.drop_partial_dirs(folder, earlier | incremental.touched(changes))
    if outcome.result == "failed" and not place.still_there():
        return Outcome("destination_missing", f"the destination went away: {outcome.detail}")
    return outcome


def _rsync_hashing(argv: list[str], folder: Path, state: RunState,
                   cancelled: Callable[[], bool]) -> tuple[int, str]:
    """Run rsync into the local `folder`, hashing each file it has sent while it copies
    the next (nasfs.backup.hash_behind); the digests go to `state.hashed`."""
    hasher = hash_behind.HashBehind(folder)
    code = -1
    try:
        code, err = tools.run([argv[0], hash_behind.OUT_FORMAT, *argv[1:]], state.progress,
                              cancelled, on_line=hasher.line)
    finally:
        # A failed copy makes no manifest: its digests are not waited for.
        state.hashed = hasher.finish(drain=code in (0, 24) and not cancelled())
    return code, err


def _space(place: Place) -> tuple[int, int] | None:
    """The destination's (free, total) bytes for the space notice; never fails the run
    that already made its generation (a box gone, a backend that does not tell)."""
    try:
        return place.space()
    except (BackupError, OSError, ValueError):
        log.warning("could not measure the space at %s", place.describe(), exc_info=True)
        return None


def _copy(job: Job, place: Place, source: Path, work: str, last_good: str | None,
          state: RunState, cancelled: Callable[[], bool], xattrs: bool = True) -> Outcome:
    from nasfs.backup.cloud import CloudPlace

    if isinstance(place, CloudPlace):
        argv = place.copy_args(str(source), work, job.options, last_good)
        code, err = tools.run(argv, state.progress, cancelled)
        return from_rclone(code, err)
    argv = ["rsync", *tools.rsync_args(job.options, posix=place.posix, owners=place.owners,
                                       hardlinks=place.hardlinks, last_good=last_good,
                                       xattrs=xattrs,
                                       exact_times=place.exact_times),
            *place.rsync_shell(), str(source) + "/", place.rsync_target(work)]
    if isinstance(place, places.LocalPlace):
        code, err = _rsync_hashing(argv, place.root / work, state, cancelled)
    else:  # the manifest hashes the snapshot's files (the copy is not on this box)
        code, err = tools.run(argv, state.progress, cancelled)
    outcome = from_rsync(code, err)
    if outcome.result == "failed" and not place.still_there():
        return Outcome("destination_missing", f"the destination went away: {outcome.detail}")
    return outcome


# -- generations, verify, restore ----------------------------------------------------------


def list_generations(job: Job, ctx: Context) -> list[dict[str, Any]]:
    with open_place(job, ctx) as place:
        out = []
        for g in places.generations(place):
            entries = manifest.loads(place.read_text(f"{g}.manifest"))
            out.append({"name": g, "time_s": stamp_time(g), "files": len(entries),
                        "bytes": sum(e.size for e in entries.values())})
        out += [{"name": p, "time_s": None, "files": None, "bytes": None,
                 "incomplete": True} for p in places.incomplete(place)]
    return out


def browse(job: Job, ctx: Context, gen: str | None, prefix: str) -> list[dict[str, Any]]:
    """Files of generation `gen` (default newest) under `prefix`, from its manifest."""
    with open_place(job, ctx) as place:
        gen = _pick(place, gen)
        entries = manifest.loads(place.read_text(f"{gen}.manifest"))
    prefix = prefix.strip("/")
    return [dict(e.__dict__) for p, e in sorted(entries.items())
            if not prefix or p == prefix or p.startswith(prefix + "/")]


def _pick(place: Place, gen: str | None) -> str:
    done = places.generations(place)
    if not done:
        raise BackupError("the job has no complete generation yet")
    if gen is None:
        return done[-1]
    if gen not in done:
        raise BackupError(f"there is no generation {gen!r} (there are {', '.join(done)})")
    return gen


def verify(job: Job, ctx: Context, gen: str | None,
           cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    with open_place(job, ctx) as place:
        gen = _pick(place, gen)
        text = place.read_text(f"{gen}.manifest")
        if text is None:
            raise BackupError(f"generation {gen} has no manifest")
        entries = manifest.loads(text)
        report = manifest.verify(entries, place.files(gen),
                                 lambda p: place.open_file(gen, p), cancelled)
    return {"generation": gen, **report.to_json()}


def restore(job: Job, ctx: Context, gen: str | None, path: str, to: str | None) -> dict[str, Any]:
    """Copy `path` (inside the job's source; '' = all of it) of generation `gen` back into the
    live array: to its original place when that is free, else beside it as
    'NAME (restored GEN)'; or to `to` (a path from the volume root that must not exist)."""
    import shlex

    from nasfs.backup.cloud import CloudPlace, config_path

    path = path.strip("/")
    if any(p in ("", ".", "..") for p in path.split("/")) and path:
        raise BackupError(f"bad path {path!r}")
    with open_place(job, ctx) as place:
        gen = _pick(place, gen)
        original = ctx.mountpoint / job.source / path if path else ctx.mountpoint / job.source
        if to is not None:
            target = ctx.mountpoint / to.strip("/")
            if os.path.lexists(target):
                raise BackupError(f"{to} exists already; restore somewhere new")
        elif not os.path.lexists(original):
            target = original
        else:
            target = original.with_name(f"{original.name} (restored {gen})")
            if os.path.lexists(target):
                raise BackupError(f"{original} and {target.name} both exist; give --to")
        if not target.parent.is_dir():
            raise BackupError(f"the folder {target.parent} to restore into does not exist")
        entries = manifest.loads(place.read_text(f"{gen}.manifest"))
        chosen = [e for p, e in entries.items()
                  if not path or p == path or p.startswith(path + "/")]
        is_file = path in entries
        if not chosen and path:
            raise BackupError(f"{path} is not in generation {gen}")
        if isinstance(place, CloudPlace):
            src = place.at(f"{gen}/{path}" if path else gen)
            argv = ["rclone", "--config", str(config_path()),
                    "copyto" if is_file else "copy", "--links", src, str(target)]
            code, err = tools.run(argv, tools.Progress(), lambda: False)
            outcome = from_rclone(code, err)
        else:
            remote = place.rsync_target(gen).rstrip("/") + (f"/{path}" if path else "")
            if isinstance(place, places.SshPlace):
                remote = remote.split(":", 1)[0] + ":" + shlex.quote(remote.split(":", 1)[1])
            # Back into the array: what the destination kept (owners and modes only where
            # it holds them; elsewhere the restorer's, as any new file).
            flags = (["-aHX", "--numeric-ids"] if place.owners
                     else ["-rltHX"] if place.posix else ["-rt"])
            argv = ["rsync", *flags, "--exclude=.rsync-partial/", *place.rsync_shell(),
                    remote if is_file else remote + "/", str(target)]
            code, err = tools.run(argv, tools.Progress(), lambda: False)
            outcome = from_rsync(code, err)
    if outcome.result not in GOOD:
        raise BackupError(f"the restore failed: {outcome.detail}", outcome.result)
    rel = os.path.relpath(target, ctx.mountpoint)
    return {"generation": gen, "path": rel, "files": len(chosen),
            "bytes": sum(e.size for e in chosen)}
