"""The backup job form of the Backups screen: which fields a job has for each kind of
destination, filled from a job to edit, and the values typed turned into the `backup.add` /
`backup.edit` request. Pure functions of nasfs.client.backup values (no Textual, no daemon
call), so they are tested on their own; the daemon checks what the values mean (a bad
schedule, a share that is not there) and says why it refuses.

USB disks are offered by label, model, size and filesystem UUID (`backup.disks`), never by
device name; cloud destinations by the remotes nasfs has configured (`backup.remotes`), whose
settings the new job gets a copy of (`cloud_from`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.screens.form_dialog import Field
from nasfs.client.backup import BackupDisk, BackupJob, CloudRemote, HostKey

# The destination kinds as the form offers them (first step of "add"), and back.
KINDS = {"usb": "a USB disk", "ssh": "another box over ssh", "cloud": "a cloud remote",
         "folder": "a folder on this box"}
KIND_OF = {words: kind for kind, words in KINDS.items()}
KEEP, THIN = "keep the last N", "thinning (hourly 1 day, daily 1 month, weekly)"
YES, NO = "yes", "no"
DEFAULT_KEEP = 30
USB_FOLDER = "nasfs-backup"


def disk_choice(disk: BackupDisk) -> str:
    """`BACKUP SanDisk 64.0 GB ext4, UUID 0a1b-...`: what the administrator can read on
    the disk and in `nasfs backup disks`; never the device name, which changes."""
    return f"{disk.describe or '(no label)'}, UUID {disk.uuid}"


def remote_choice(remote: CloudRemote) -> str:
    crypt = ", encrypted" if remote.crypt else ""
    where = f" {remote.where}" if remote.where else ""
    return f"{remote.key}: {remote.type}{crypt}{where}"


def missing_disk_choice(uuid: str) -> str:
    return f"the disk it has now, UUID {uuid} (not plugged in)"


@dataclass(frozen=True)
class Choices:
    """What the destination fields offer: the disks and remotes read from the daemon."""

    disks: list[BackupDisk] = field(default_factory=list)
    remotes: list[CloudRemote] = field(default_factory=list)

    def disk_uuid(self, choice: str) -> str:
        for d in self.disks:
            if disk_choice(d) == choice:
                return d.uuid
        return choice.rpartition("UUID ")[2].split(" ")[0]  # the job's own, not plugged in

    def remote(self, choice: str) -> CloudRemote | None:
        return next((r for r in self.remotes if remote_choice(r) == choice), None)


def job_fields(kind: str, job: BackupJob | None, choices: Choices) -> list[Field]:
    """The form's fields for a job going to `kind`, with the values of `job` (editing) or
    the defaults (adding)."""
    dest = job.destination if job is not None and job.destination.kind == kind else None
    opts = job.options if job is not None else None
    fields = [Field("name", "Name", value=job.name if job else "", placeholder="office-usb"),
              Field("source", "Source: share or share/folder", value=job.source if job else "",
                    placeholder="office or office/projects"),
              *_destination_fields(kind, dest, choices, job_key(job)),
              Field("schedule", "Schedule (cron, UTC; empty: by hand)", required=False,
                    value=(job.schedule or "") if job else "", placeholder="0 19 * * 1-5")]
    smart = job is not None and job.retention.smart
    keep = job.retention.keep_last if job is not None and job.retention.keep_last else None
    fields += [
        Field("retention", "Retention", kind="choice", choices=(KEEP, THIN),
              value=THIN if smart else KEEP),
        Field("keep_last", "N generations to keep (1 to 256)", kind="integer", required=False,
              value=str(keep or DEFAULT_KEEP)),
        Field("include", "Include patterns (commas)", required=False,
              value=", ".join(opts.include) if opts else "", placeholder="*.docx, /plans/"),
        Field("exclude", "Exclude patterns (commas)", required=False,
              value=", ".join(opts.exclude) if opts else "", placeholder="*.tmp, cache/**"),
        Field("bwlimit", "Bandwidth limit, KiB/s (empty: none)", kind="integer",
              required=False, value=str(opts.bwlimit_kib or "") if opts else ""),
        Field("verify", "Verify after copy", kind="choice", choices=(NO, YES),
              value=YES if opts and opts.verify else NO),
    ]
    if kind == "usb":
        fields.append(Field("eject", "Eject the disk when done", kind="choice",
                            choices=(NO, YES), value=YES if opts and opts.eject else NO))
    fields.append(Field("verify_schedule", "Scheduled verify (cron; empty: none)",
                        required=False, value=(opts.verify_schedule or "") if opts else "",
                        placeholder="0 3 * * 0"))
    return fields


def job_key(job: BackupJob | None) -> str:
    """The name a job's things are kept under (its first name): nasfs.backup.model.Job.key."""
    if job is None:
        return ""
    return job.destination.job_folder or job.name


def _destination_fields(kind: str, dest: Any, choices: Choices, key: str) -> list[Field]:
    if kind == "usb":
        offered = [disk_choice(d) for d in choices.disks]
        current = ""
        if dest is not None:
            mine = [c for c, d in zip(offered, choices.disks, strict=True)
                    if d.uuid == dest.uuid]
            current = mine[0] if mine else missing_disk_choice(dest.uuid)
            if not mine:
                offered.insert(0, current)
        return [Field("disk", "USB disk", kind="choice", choices=tuple(offered), value=current),
                Field("usb_folder", "Folder on the disk", required=False,
                      value=dest.path if dest is not None else USB_FOLDER)]
    if kind == "ssh":
        box = f"{dest.user}@{dest.host}:{dest.path}" if dest is not None else ""
        return [Field("box", "Box: user@host:/path (a share)", value=box,
                      placeholder="root@nas2:/srv/nas/backup"),
                Field("port", "ssh port", kind="integer",
                      value=str(dest.port) if dest is not None else "22"),
                Field("fingerprint", "Host key (empty: ask the box)", required=False,
                      value=(dest.host_key_fingerprint or "") if dest is not None else "",
                      placeholder="SHA256:...")]
    if kind == "cloud":
        remotes = tuple(remote_choice(r) for r in choices.remotes)
        current = next((remote_choice(r) for r in choices.remotes
                        if dest is not None and r.key == key), "")
        return [Field("remote", "Cloud remote (its settings are copied)", kind="choice",
                      choices=remotes, value=current),
                Field("cloud_path", "Folder in the cloud", required=False,
                      value=dest.path if dest is not None else "", placeholder="backups")]
    return [Field("folder", "Folder on this box (absolute)",
                  value=dest.path if dest is not None else "", placeholder="/mnt/backup")]


def check_values(kind: str, values: dict[str, str]) -> str | None:
    """What the form itself can tell is wrong (the shape); None when it may be sent."""
    if kind == "ssh":
        rest = values["box"].rpartition("@")[2]
        host, colon, path = rest.partition(":")
        if not colon or not host or not path.startswith("/"):
            return ("The box is user@host:/path, the path a share of that box "
                    "(e.g. root@nas2:/srv/nas/backup).")
        if not 0 < int(values["port"]) < 65536:
            return "The ssh port is 1 to 65535."
    if values["retention"] == KEEP and values["keep_last"] and not (
            1 <= int(values["keep_last"]) <= 256):
        return "Keep 1 to 256 generations."
    return None


@dataclass(frozen=True)
class JobRequest:
    """What the form's values ask of the daemon: the job's fields (`backup.add`'s job,
    `backup.edit`'s changes), the extra parameters (ssh_fingerprint, cloud_from), and, for
    an ssh box whose host key is not pinned yet, the (host, port) to ask for its keys first."""

    body: dict[str, Any]
    extra: dict[str, Any]
    scan: tuple[str, int] | None = None


def _patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def job_request(kind: str, values: dict[str, str], job: BackupJob | None,
                choices: Choices) -> JobRequest:
    """The request for `values` (checked by `check_values`); `job` is the one edited."""
    extra: dict[str, Any] = {}
    scan: tuple[str, int] | None = None
    if kind == "usb":
        dest: dict[str, Any] = {"kind": "usb", "uuid": choices.disk_uuid(values["disk"]),
                                "path": values["usb_folder"] or USB_FOLDER}
    elif kind == "ssh":
        user, at, rest = values["box"].rpartition("@")
        host, _, path = rest.partition(":")
        port = int(values["port"])
        dest = {"kind": "ssh", "host": host, "path": path, "user": user if at else "root",
                "port": port}
        old = job.destination if job is not None and job.destination.kind == "ssh" else None
        same_box = old is not None and (old.host, old.port) == (host, port)
        typed = values["fingerprint"].strip()
        if not typed:
            scan = (host, port)
        elif not (same_box and old is not None and typed == old.host_key_fingerprint):
            dest["host_key"] = None  # pin anew: the daemon keeps the old key otherwise
            extra["ssh_fingerprint"] = typed
    elif kind == "cloud":
        remote = choices.remote(values["remote"])
        if remote is None:
            raise ValueError("no cloud remote chosen")
        dest = {"kind": "cloud", "remote": remote.type, "path": values["cloud_path"],
                "crypt": remote.crypt}
        extra["cloud_from"] = remote.key
    else:
        dest = {"kind": "folder", "path": values["folder"]}
    smart = values["retention"] == THIN
    keep = int(values["keep_last"]) if values["keep_last"] else DEFAULT_KEEP
    bwlimit = int(values["bwlimit"]) if values["bwlimit"] else None
    options: dict[str, Any] = {
        "include": _patterns(values["include"]), "exclude": _patterns(values["exclude"]),
        "bwlimit_kib": bwlimit or None, "verify": values["verify"] == YES,
        "eject": values.get("eject") == YES if kind == "usb" else bool(
            job is not None and job.options.eject),
        "verify_schedule": values["verify_schedule"] or None}
    body = {"name": values["name"], "source": values["source"], "destination": dest,
            "schedule": values["schedule"] or None,
            "retention": {"keep_last": None if smart else keep, "smart": smart},
            "options": options}
    return JobRequest(body, extra, scan)


def pin_question(host: str, keys: list[HostKey]) -> tuple[str, str]:
    """What the form says when a box's host key is not pinned yet, and the fingerprint it
    puts in for the administrator to confirm (ed25519 when offered): (text, fingerprint)."""
    chosen = next((k for k in keys if k.type == "ssh-ed25519"), keys[0])
    offered = "; ".join(f"{k.type} {k.fingerprint}" for k in keys)
    return (f"{host} offers {offered}. Compare with 'ssh-keygen -lf "
            f"/etc/ssh/ssh_host_ed25519_key.pub' run on {host}; if it is the same, save "
            "again to pin it (a box answering with another key is then refused).",
            chosen.fingerprint)


def delete_consequence(job: BackupJob) -> str:
    """What deleting a job does, as `nasfs backup del` does it."""
    key = job_key(job)
    text = (f"Its generations stay where they are, under {key}/ at {job.destination_words}: "
            f"nothing there is deleted. A job added again with the name {key} and the same "
            "destination finds them. Its past runs stay in the system log.")
    if job.destination.kind == "cloud":
        text += (" This box forgets the job's cloud remote (its rclone settings and crypt "
                 "password): keep them elsewhere to read those generations again.")
    return text
