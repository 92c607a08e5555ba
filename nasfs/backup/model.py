"""What a backup job is: source, destination, schedule, retention and options, validated.

Jobs are stored in policy.db (nasfs.backup.repository) as JSON columns built by `to_json`
and read back by `job_from_json`; every constructor path goes through the same checks, so a
stored job is always a valid one. Errors are `InvalidJob` (exit code 2) with one sentence
naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nasfs.cron import InvalidSchedule, check_cron
from nasfs.errors import NasfsError
from nasfs.wire import codes

MAX_GENERATIONS = 256  # like the snapshots: a job keeps at most this many generations
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_UUID = re.compile(r"^[0-9A-Fa-f-]{4,64}$")
_REMOTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KINDS = ("usb", "folder", "ssh", "cloud")
# Names in a share's folder that are the gate's virtual folders, never real data.
VIRTUAL = ("#snapshot", "#trash")


class InvalidJob(NasfsError):
    """A backup job or one of its parts is not valid (wire code `invalid_job`)."""

    wire_code = codes.INVALID_JOB

    exit_code = 2


class JobNotFound(NasfsError):
    """No backup job with this name."""

    wire_code = codes.JOB_NOT_FOUND


class JobExists(NasfsError):
    """A backup job with this name exists already."""

    wire_code = codes.JOB_EXISTS


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidJob(f"a backup job name is 1 to 64 letters, digits, '.', '_' or '-', "
                         f"starting with a letter or digit, not {name!r}")
    return name


def check_source(source: Any) -> str:
    """'SHARE' or 'SHARE/folder/inside' (no '..', no virtual folders), without slashes
    around."""
    if not isinstance(source, str) or not source.strip("/"):
        raise InvalidJob("the source is a share, or a folder inside one: 'SHARE' or "
                         "'SHARE/folder'")
    parts = source.strip("/").split("/")
    for part in parts:
        if part in ("", ".", "..") or part in VIRTUAL or "\0" in part:
            raise InvalidJob(f"the source {source!r} has a bad part {part!r} (no empty parts, "
                             "'.', '..', '#snapshot' or '#trash')")
    return "/".join(parts)


def _relpath(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidJob(f"{what} must be text")
    parts = [p for p in value.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidJob(f"{what} {value!r} must not contain '.' or '..'")
    return "/".join(parts)


@dataclass(frozen=True)
class Destination:
    """Where generations go. `kind` decides which fields count:

    - usb:    `uuid` (filesystem UUID, as blkid shows it) and `path` (folder on the disk);
    - folder: `path` (absolute; a disk the administrator mounts, or a test's folder);
    - ssh:    `host`, `port`, `user`, `path` (absolute, on the other box), `host_key`
              (the pinned public key line, 'ssh-ed25519 AAAA...');
    - cloud:  `remote` (rclone backend type, e.g. 'webdav', 's3'), `path` (folder in it),
              `crypt` (wrap in rclone crypt). Its settings and secrets are not here: they
              live in the root-only rclone config (nasfs.backup.cloud).
    """

    kind: str
    path: str = ""
    uuid: str | None = None
    host: str | None = None
    port: int = 22
    user: str = "root"
    host_key: str | None = None
    remote: str | None = None
    crypt: bool = False
    # The name the job's things are kept under (its folder at the destination, its rclone
    # remotes, its known-hosts file, its snapshots) when that is not the job's name: the
    # name the job had when it was first added, kept when it is renamed, so the
    # generations already made stay its own.
    job_folder: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "path": self.path}
        if self.job_folder is not None:
            body["job_folder"] = self.job_folder
        if self.kind == "usb":
            body["uuid"] = self.uuid
        elif self.kind == "ssh":
            body.update(host=self.host, port=self.port, user=self.user, host_key=self.host_key)
        elif self.kind == "cloud":
            body.update(remote=self.remote, crypt=self.crypt)
        return body

    def describe(self) -> str:
        if self.kind == "usb":
            return f"USB disk {self.uuid}:/{self.path}"
        if self.kind == "folder":
            return f"folder {self.path}"
        if self.kind == "ssh":
            return f"{self.user}@{self.host}:{self.port}{self.path}"
        return f"cloud ({self.remote}{', encrypted' if self.crypt else ''}):/{self.path}"


def destination_from_json(body: Any) -> Destination:
    import dataclasses

    if not isinstance(body, dict):
        raise InvalidJob("the destination must be an object with a 'kind'")
    folder = body.get("job_folder")
    dest = _destination(body)
    return dest if folder is None else dataclasses.replace(dest, job_folder=check_name(folder))


def _destination(body: dict[str, Any]) -> Destination:
    kind = body.get("kind")
    if kind not in KINDS:
        raise InvalidJob(f"a destination kind is one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "usb":
        uuid = body.get("uuid")
        if not isinstance(uuid, str) or not _UUID.match(uuid):
            raise InvalidJob(f"a USB destination needs the disk's filesystem UUID "
                             f"(as blkid shows it), not {uuid!r}")
        on_disk = _relpath(body.get("path", "nasfs-backup") or "nasfs-backup",
                           "the folder on the disk")
        return Destination("usb", path=on_disk, uuid=uuid)
    path: Any = body.get("path")
    if kind == "folder":
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidJob(f"a folder destination needs an absolute path, not {path!r}")
        return Destination("folder", path="/" + _relpath(path, "the folder"))
    if kind == "ssh":
        host: Any = body.get("host")
        user: Any = body.get("user", "root")
        port: Any = body.get("port", 22)
        key = body.get("host_key")
        if not isinstance(host, str) or not _HOST.match(host):
            raise InvalidJob(f"an ssh destination needs a host name or address, not {host!r}")
        if not isinstance(user, str) or not _USER.match(user):
            raise InvalidJob(f"the ssh user must be a login name, not {user!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidJob(f"the ssh port must be 1 to 65535, not {port!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidJob(f"an ssh destination needs an absolute path on the other box "
                             f"(a share of it), not {path!r}")
        if key is not None and (not isinstance(key, str) or len(key.split()) < 2):
            raise InvalidJob("the pinned host key is a public key line 'TYPE BASE64'")
        return Destination("ssh", path="/" + _relpath(path, "the remote path"), host=host,
                           port=port, user=user, host_key=key)
    remote, crypt = body.get("remote"), body.get("crypt", False)
    if not isinstance(remote, str) or not _REMOTE_KEY.match(remote):
        raise InvalidJob(f"a cloud destination needs an rclone backend type such as s3, b2, "
                         f"webdav or sftp, not {remote!r}")
    if not isinstance(crypt, bool):
        raise InvalidJob("crypt is yes or no")
    return Destination("cloud", path=_relpath(body.get("path", "") or "", "the cloud folder"),
                       remote=remote, crypt=crypt)


@dataclass(frozen=True)
class Retention:
    """Which complete generations stay after a successful run (nasfs.backup.retention).

    `keep_last` N (1..256), or `smart`: every generation of the last day, the newest of each
    day for a month, the newest of each ISO week after that (up to 256 in all).
    """

    keep_last: int | None = None
    smart: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"keep_last": self.keep_last, "smart": self.smart}

    def describe(self) -> str:
        if self.smart:
            return "smart (hourly for a day, daily for a month, weekly after)"
        return f"keep the last {self.keep_last}"


def retention_from_json(body: Any) -> Retention:
    if body is None:
        return Retention(keep_last=30)
    if not isinstance(body, dict):
        raise InvalidJob("the retention must be an object")
    keep, smart = body.get("keep_last"), body.get("smart", False)
    if not isinstance(smart, bool):
        raise InvalidJob("smart retention is yes or no")
    if smart and keep is not None:
        raise InvalidJob("choose keep_last or smart retention, not both")
    if smart:
        return Retention(smart=True)
    if keep is None:
        keep = 30
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_GENERATIONS:
        raise InvalidJob(f"keep_last is 1 to {MAX_GENERATIONS} generations, not {keep!r}")
    return Retention(keep_last=keep)


@dataclass(frozen=True)
class Options:
    include: tuple[str, ...] = ()  # rsync filter patterns, tried before `exclude`
    exclude: tuple[str, ...] = ()
    bwlimit_kib: int | None = None  # KiB/s; None = no limit
    verify: bool = False  # re-read the new generation and compare with its manifest
    eject: bool = False  # USB: power the disk down after unmounting it
    # Five-field cron (UTC): re-read the newest generation and compare it with its manifest.
    verify_schedule: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "include": list(self.include), "exclude": list(self.exclude),
            "bwlimit_kib": self.bwlimit_kib, "verify": self.verify, "eject": self.eject}
        if self.verify_schedule is not None:  # absent = none (older readers know no other)
            body["verify_schedule"] = self.verify_schedule
        return body


def _patterns(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidJob(f"{what} is a list of patterns")
    for v in value:
        if "\n" in v or "\0" in v:
            raise InvalidJob(f"the pattern {v!r} has a line break")
    return tuple(value)


def options_from_json(body: Any) -> Options:
    body = body or {}
    if not isinstance(body, dict):
        raise InvalidJob("the options must be an object")
    unknown = set(body) - {"include", "exclude", "bwlimit_kib", "verify", "eject",
                           "verify_schedule"}
    if unknown:
        raise InvalidJob(f"unknown backup option(s): {', '.join(sorted(unknown))}")
    bw = body.get("bwlimit_kib")
    if bw is not None and (isinstance(bw, bool) or not isinstance(bw, int) or bw <= 0):
        raise InvalidJob(f"the bandwidth limit is a positive number of KiB/s, not {bw!r}")
    for flag in ("verify", "eject"):
        if not isinstance(body.get(flag, False), bool):
            raise InvalidJob(f"{flag} is yes or no")
    return Options(_patterns(body.get("include"), "include"),
                   _patterns(body.get("exclude"), "exclude"), bw,
                   bool(body.get("verify", False)), bool(body.get("eject", False)),
                   check_schedule(body.get("verify_schedule")))


@dataclass(frozen=True)
class Job:
    name: str
    source: str
    destination: Destination
    schedule: str | None = None  # five-field cron (UTC), as snapshot schedules; None: by hand
    retention: Retention = field(default_factory=lambda: Retention(keep_last=30))
    options: Options = field(default_factory=Options)
    created_ns: int = 0

    @property
    def key(self) -> str:
        """The name its folder at the destination, remotes and snapshots are kept under
        (its first name; see Destination.job_folder)."""
        return self.destination.job_folder or self.name

    @property
    def share(self) -> str:
        return self.source.split("/", 1)[0]

    @property
    def folder(self) -> str:
        """The folder inside the share ('' for the whole share)."""
        return self.source.partition("/")[2]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source,
                "destination": self.destination.to_json(), "schedule": self.schedule,
                "retention": self.retention.to_json(), "options": self.options.to_json(),
                "created_ns": self.created_ns}


def check_schedule(value: Any) -> str | None:
    if value is None or value == "" or value == "off":
        return None
    if not isinstance(value, str):
        raise InvalidJob("the schedule is a five-field cron expression (UTC) or 'off'")
    try:
        return check_cron(value)
    except InvalidSchedule as exc:
        raise InvalidJob(str(exc)) from None


def job_from_json(body: dict[str, Any]) -> Job:
    """A Job from its JSON form (the wire's and the database's); InvalidJob when wrong."""
    unknown = set(body) - {"name", "source", "destination", "schedule", "retention",
                           "options", "created_ns"}
    if unknown:
        raise InvalidJob(f"unknown backup job field(s): {', '.join(sorted(unknown))}")
    created = body.get("created_ns", 0)
    return Job(check_name(body.get("name")), check_source(body.get("source")),
               destination_from_json(body.get("destination")),
               check_schedule(body.get("schedule")),
               retention_from_json(body.get("retention")),
               options_from_json(body.get("options")),
               int(created) if isinstance(created, int) else 0)
