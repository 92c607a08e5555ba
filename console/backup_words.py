"""The Backups screen's words: results, destination space and a running copy's progress,
said for an office administrator. Pure functions of nasfs.client.backup values (no Textual),
so they read the same wherever they are shown."""

from __future__ import annotations

import time

from console import format as fmt
from nasfs.client.backup import (
    BackupJob,
    BackupRun,
    BackupStatus,
    DestinationSpace,
    RunProgress,
)

RESULTS = {
    "ok": "OK",
    "vanished": "OK (some files were deleted while copying)",
    "partial": "INCOMPLETE: some files could not be copied",
    "destination_full": "FAILED: the destination is full",
    "destination_missing": "FAILED: the destination was not there",
    "cancelled": "STOPPED before the end",
    "failed": "FAILED",
    "interrupted": "STOPPED: the service stopped during the run",
    "running": "running",
}

PHASES = {
    "starting": "starting",
    "snapshot": "taking a snapshot to copy from",
    "copy": "copying",
    "manifest": "listing what was copied",
    "verify": "checking the copy",
    "flush": "writing the copy to the destination's disk",
    "rotate": "removing old generations",
}


def result_word(run: BackupRun | None) -> str:
    """The last result in a few words, for the table."""
    if run is None:
        return "never run"
    word = RESULTS.get(run.result, run.result).split(":")[0].split(" (")[0]
    at = run.finished_ns or run.started_ns
    return f"{word} {fmt.when(at, '%m-%d %H:%M')}"


def result_sentence(run: BackupRun | None) -> str:
    """The last result with its reason, for the line under the table."""
    if run is None:
        return "It has not run yet."
    said = RESULTS.get(run.result, run.result)
    at = fmt.when(run.finished_ns or run.started_ns)
    if run.result == "running":
        return f"Running since {at}."
    if run.succeeded:
        return (f"Last run {at}: {said}, generation {run.generation} "
                f"({run.files} files, {fmt.size(run.bytes or 0)}).")
    return f"Last run {at}: {said}. {run.detail or ''}".strip()


def space_words(space: DestinationSpace | None, now_s: float | None = None) -> str:
    if space is None:
        return "..."
    if not space.reachable:
        if "not plugged in" in space.detail:
            last = _last_space(space, "when last plugged in", now_s)
            return f"not plugged in; {last}" if last else "not plugged in"
        return "not reachable"
    if space.free_bytes is not None and space.total_bytes:
        return f"{fmt.size(space.free_bytes)} free of {fmt.size(space.total_bytes)}"
    if space.free_bytes is not None:
        return f"{fmt.size(space.free_bytes)} free"
    if space.detail.startswith("plugged in"):
        last = _last_space(space, "at the last run", now_s)
        return f"plugged in; {last}" if last else "plugged in"
    return "free space unknown"


def _last_space(space: DestinationSpace, when: str, now_s: float | None) -> str:
    """"72.5 GiB free when last plugged in, 2 days ago" (empty: never measured)."""
    if space.last_free_bytes is None or space.last_measured_s is None:
        return ""
    now = time.time() if now_s is None else now_s
    return f"{fmt.size(space.last_free_bytes)} free {when}, {ago(now - space.last_measured_s)}"


def ago(seconds: float) -> str:
    """How long ago, in the largest whole unit: "just now", "5 minutes ago", "2 days ago"."""
    for unit, size_s in (("day", 86400), ("hour", 3600), ("minute", 60)):
        n = int(max(seconds, 0) // size_s)
        if n:
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def next_run_words(next_run_s: float | None) -> str:
    return "by hand" if next_run_s is None else fmt.when(next_run_s * 1e9, "%m-%d %H:%M")


def progress_words(p: RunProgress) -> str:
    """`copying: 12.0 MiB of 40.0 MiB, 120 of 500 files, 3.2 MiB/s, 10 s left`."""
    phase = PHASES.get(p.phase, p.phase)
    if p.phase != "copy":
        return f"{phase} ({fmt.duration(p.elapsed_s)} so far)"
    done = fmt.size(p.bytes_done)
    parts = [f"{done} of about {fmt.size(p.total_bytes)}" if p.total_bytes else done]
    if p.files_total:
        parts.append(f"{p.files_checked or 0} of {p.files_total} files")
    elif p.files_done:
        parts.append(f"{p.files_done} files copied")
    if p.rate_bytes_per_s is not None:
        parts.append(fmt.rate(p.rate_bytes_per_s))
    if p.eta_s is not None:
        parts.append(f"{fmt.duration(p.eta_s)} left")
    return f"{phase}: " + ", ".join(parts)


def usb_note(job: BackupJob, status: BackupStatus | None) -> str:
    """For a USB disk job: whether plugging the disk in starts it, and that it may be
    pulled out (every run unmounts it at its end)."""
    if job.destination.kind != "usb" or status is None:
        return ""
    note = ""
    last = job.last_run
    if not status.running and last is not None and last.finished_ns is not None \
            and last.result != "interrupted":
        note += " The disk was unmounted after the run and may be removed."
    if status.one_touch:
        note += " Plugging the disk in starts this backup."
    return note
