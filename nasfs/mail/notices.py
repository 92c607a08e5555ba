"""What is worth a mail, and its words: notices built from the daemon's events, the system
log's lock-out rows, health changes and capacity crossings.

A notice's `key` names "the same thing again" for rate limiting (a disk that keeps failing
reads is mailed once per mail.repeat_s, not once per read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nasfs.store.disks import disk_name
from nasfs.units import size

HOW_TO_REPLACE = (
    "Your files are still readable, but the array cannot lose another disk. Fit a new disk, "
    "mount it as an empty directory and rebuild onto it (console: Disks, key R; or "
    "`nasfs rebuild --disk N --onto DIR`).")


@dataclass(frozen=True)
class Notice:
    """One mail to send: `subject` and `body` in plain words; `key` for rate limiting."""

    kind: str
    key: str
    subject: str
    body: str


def disk(member: int | None) -> str:
    return "a disk" if member is None else disk_name(member)


def for_store_event(kind: str, member: int | None, path: str | None,
                    detail: str) -> Notice | None:
    """The notice for a store event, or None for events that are only counted."""
    where = f" ({path})" if path else ""
    if kind == "member-missing":
        return Notice(kind, f"member:{member}", f"{disk(member).capitalize()} is missing: "
                      "the array is degraded",
                      f"When the array was opened, {disk(member)} was missing.\n\n"
                      f"{HOW_TO_REPLACE}\n\nDetail: {detail}")
    if kind == "member-failed":
        return Notice(kind, f"member:{member}", f"{disk(member).capitalize()} failed: the "
                      "array is degraded",
                      f"{disk(member).capitalize()}{where} stopped working and is no longer "
                      f"used.\n\n{HOW_TO_REPLACE}\n\nDetail: {detail}")
    if kind == "read-error":
        return Notice(kind, f"read-error:{member}", f"Read errors on {disk(member)}",
                      f"{disk(member).capitalize()}{where} returned data that could not be "
                      "used; it was read from parity instead. If this repeats, plan to "
                      f"replace the disk.\n\nDetail: {detail}")
    if kind in ("db-failed", "db-repaired") and ("damaged" in detail or "checksum" in detail):
        # Only damage: a copy merely behind (stale) is the normal state after a crash.
        copy = path or detail.partition(": ")[0]
        return Notice("metadata-damaged", f"metadata-damaged:{copy}",
                      "A copy of the array's metadata was damaged and is being repaired",
                      f"A copy of the array's metadata{where} did not match its checksums: "
                      "the disk holding it changed bytes it had stored. nasfs works from "
                      "another copy and rewrites the damaged one from a sound copy; no file "
                      "is affected. If this repeats for the same disk, plan to replace it."
                      f"\n\nDetail: {detail}")
    if kind == "db-full":
        copy = path or detail.partition(": ")[0]
        return Notice(kind, f"db-full:{copy}",
                      "A disk of the array is full: a copy of its metadata is behind",
                      f"The disk holding a copy of the array's metadata{where} is full, so that "
                      "copy could not take the latest changes. The other copies took them and "
                      "no change is lost, but the array now keeps fewer up-to-date copies. "
                      "Free space on that disk (something other than nasfs may have filled "
                      "it) or replace it; the copy catches up by itself once there is room."
                      f"\n\nDetail: {detail}")
    if kind == "unrecoverable":
        return Notice(kind, "unrecoverable", "Data could not be repaired",
                      "Part of the array is damaged on more disks than parity can cover; "
                      "some file data could not be repaired. Run a scrub to list what is "
                      f"affected and restore those files from a backup.\n\nDetail: {detail}")
    return None


def for_daemon_note(kind: str, detail: str) -> Notice | None:
    """The notice for something the daemon itself noted (jobs, snapshots), or None."""
    if kind == "scrub-finished":
        return Notice(kind, f"{kind}:{detail}", "Scrub finished: " + _scrub_verdict(detail),
                      f"The check of all data (scrub) finished.\n\nResult: {detail}")
    if kind == "scrub-failed":
        return Notice(kind, kind, "Scrub stopped with an error",
                      f"The check of all data (scrub) stopped: {detail}\n\nIt can be resumed "
                      "with `nasfs scrub --resume`.")
    if kind == "rebuild-finished":
        return Notice(kind, f"{kind}:{detail}", "Rebuild finished",
                      f"The rebuild finished; the array is protected again unless the result "
                      f"below lists unrecoverable data.\n\nResult: {detail}")
    if kind == "rebuild-failed":
        return Notice(kind, kind, "Rebuild stopped with an error",
                      f"The rebuild stopped: {detail}\n\nStarting it again onto the same "
                      "directory continues where it stopped.")
    if kind == "backup-failed":
        return Notice(kind, f"{kind}:{detail.partition(' ')[2].partition(' ')[0]}",
                      "A backup failed", f"A backup run did not finish: {detail}\n\nThe "
                      "earlier generations at the destination are as they were; the next "
                      "run continues where this one stopped (`nasfs backup status`).")
    if kind == "backup-overdue":
        return Notice(kind, f"{kind}:{detail.partition(':')[0]}",
                      "A backup is overdue", f"{detail}.\n\nSee `nasfs backup status` for the "
                      "last result and its reason.")
    if kind == "backup-verify-failed":
        return Notice(kind, f"{kind}:{detail}", "A backup does not match its manifest",
                      f"Verifying a backup generation found differences: {detail}.\n\nThe "
                      "destination may be failing; run `nasfs backup verify` again and "
                      "consider a new destination.")
    if kind == "backup-space-low":
        return Notice(kind, f"{kind}:{detail.partition(':')[0]}",
                      "A backup destination is nearly full",
                      f"{detail}.\n\nA full destination makes the next runs fail (the "
                      "generations already there stay): free space on it, keep fewer "
                      "generations (`nasfs backup edit JOB --keep-last N`) or use a bigger "
                      "one. The threshold is the setting backup.space_warn_percent.")
    if kind == "backup-digest":
        head, _, rest = detail.partition("\n")
        return Notice(kind, f"{kind}:{head}", f"Backup summary: {head}",
                      f"{head}\n\n{rest}\n\nDetails: `nasfs backup status`. The summary's "
                      "schedule is the setting backup.digest_schedule.")
    if kind == "backup-disk-removable":
        return Notice(kind, f"{kind}:{detail}", "Backup done: the USB disk may be removed",
                      f"The backup finished and {detail.partition('; ')[0]}.\n\n{detail}")
    if kind == "read-only":
        return Notice(kind, kind, "The array is READ-ONLY: changes cannot be saved",
                      f"{detail}.\n\nThe array's metadata could not be saved several times in "
                      "a row, so nasfs stopped taking changes rather than accept changes it "
                      "cannot keep: programs get \"read-only file system\" when they write, "
                      "and files can still be read. Nothing that was saved is lost.\n\n"
                      "What to do: find the cause (`nasfs status`, the system log): usually a "
                      "disk that is full (something other than nasfs filled it) or failing. "
                      "Free space on it or replace it, then run `nasfs retry-writes` (or "
                      "unmount and mount the array again).")
    if kind == "writable-again":
        return Notice(kind, kind, "The array takes changes again",
                      f"{detail}: the read-only (fail-safe) state is over.")
    if kind == "snapshot-removed":
        return Notice(kind, f"{kind}:{detail}", "A snapshot was removed automatically",
                      f"{detail}.\n\nTo keep snapshots longer, free space (empty the trash, "
                      "delete old files) or add capacity.")
    return None


def _scrub_verdict(detail: str) -> str:
    return "problems found" if ("unrecoverable" in detail and
                                "unrecoverable 0" not in detail) else "all data readable"


def for_log_rows(rows: Sequence[Any]) -> list[Notice]:
    """Lock-outs among system-log rows (operation `auth.lock`, written by the lock-out)."""
    notices = []
    for row in rows:
        if getattr(row, "operation", None) != "auth.lock":
            continue
        subject = str(row.path or "")
        kind, _, name = subject.partition(":")
        what = f"the user name {name!r}" if kind == "user" else f"the terminal {name!r}"
        notices.append(Notice("lock-out", f"lock-out:{subject}", f"Login locked: {name}",
                              f"Too many failed logins locked {what}: {row.detail}.\n\n"
                              "If this was not a forgotten password, someone may be "
                              "guessing. Unlock with `nasfs user unlock` or the console's "
                              "Users screen."))
    return notices


def for_health(old: str, new: str, missing: Sequence[int]) -> Notice | None:
    """The notice for a change of the array's state (healthy / degraded / failed)."""
    disks = ", ".join(disk(m) for m in missing) or "none"
    if new == "healthy":
        return Notice("array-healthy", "health", "The array is healthy again",
                      f"The array was {old} and is healthy again: every disk is in use.")
    if new == "degraded":
        return Notice("array-degraded", "health", "The array is degraded",
                      f"The array was {old} and is now degraded. Missing: {disks}.\n\n"
                      f"{HOW_TO_REPLACE}")
    return Notice("array-failed", "health", "The array has FAILED",
                  f"The array was {old} and has failed: more disks are missing ({disks}) "
                  "than parity can cover. Do not format or replace anything: reconnect the "
                  "disks (cables, power) and restart the array, or call for help.")


def for_capacity(percent: float, threshold: int, used: int, usable: int) -> Notice:
    return Notice("capacity", f"capacity:{threshold}",
                  f"The array is {percent:.0f} % full (over {threshold} %)",
                  f"The array's space is {percent:.1f} % used ({size(used)} of {size(usable)} "
                  f"usable), over the {threshold} % threshold (mail.capacity_percent).\n\n"
                  "Empty the trash, delete old snapshots or files, or add capacity.")


def for_full(data_bytes: int) -> Notice:
    """The data area is full: file writes fail now; the reserve keeps cleanup working."""
    return Notice("capacity", "capacity:full", "The array is FULL: writes are failing",
                  f"The array's {size(data_bytes)} for files are used up. Programs now get "
                  "'No space left on device' when they write or create files; nothing "
                  "already saved is lost, and the reserve kept for cleanup still lets you "
                  "delete.\n\nTo make room:\n"
                  "- purge the trash (`nasfs trash purge`, or the console's Trash screen): "
                  "deleted files keep their space until the trash is emptied;\n"
                  "- delete old snapshots (`nasfs snapshot delete`);\n"
                  "- delete or move away files you do not need;\n"
                  "- add capacity (replace the disks with larger ones, one at a time).\n"
                  "Space freed this way comes back while the array stays mounted.")
