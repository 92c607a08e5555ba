"""Typed calls for the `backup.*` control methods (the table is in nasfs.backup.service).

Every answer becomes a frozen dataclass built from the method's JSON (docs/backup.md);
fields the daemon adds later are ignored, as everywhere in nasfs.client. Each answer keeps
the JSON it was made from in `raw` (not compared, not shown), so `nasfs backup ... --json`
prints exactly what the daemon said. Never imports trio (the console uses it from threads).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from nasfs.wire.types import from_dict

T = TypeVar("T")

# Results after which the generation exists (nasfs.backup.results.GOOD).
GOOD_RESULTS = frozenset({"ok", "vanished"})


class Caller(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


def _typed(cls: type[T], data: dict[str, Any], **nested: Any) -> T:
    return from_dict(cls, {**data, **nested, "raw": data})


@dataclass(frozen=True)
class BackupDestination:
    """Where a job's generations go; `kind` (usb, folder, ssh, cloud) decides which fields
    count (nasfs.backup.model.Destination)."""

    kind: str
    path: str = ""
    uuid: str | None = None
    host: str | None = None
    port: int = 22
    user: str = "root"
    host_key: str | None = None
    remote: str | None = None
    crypt: bool = False
    job_folder: str | None = None  # the name its files are kept under, when renamed

    @property
    def host_key_fingerprint(self) -> str | None:
        """'SHA256:...' of the pinned ssh host key, as `ssh-keygen -l` shows it."""
        if self.host_key is None or len(self.host_key.split()) < 2:
            return None
        return fingerprint(self.host_key)


def fingerprint(key_line: str) -> str:
    """'SHA256:...' of a public key line 'TYPE BASE64' (as nasfs.backup.sshkeys makes it)."""
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class BackupRetention:
    keep_last: int | None = None
    smart: bool = False


@dataclass(frozen=True)
class BackupOptions:
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    bwlimit_kib: int | None = None
    verify: bool = False
    eject: bool = False
    verify_schedule: str | None = None  # cron (UTC) of the scheduled verify


@dataclass(frozen=True)
class BackupRun:
    """One run of a job as recorded (the last one, or the last successful one)."""

    id: int
    job: str
    started_ns: int
    finished_ns: int | None
    result: str  # ok, vanished, partial, destination_full, ..., running, interrupted
    generation: str | None = None
    files: int | None = None
    bytes: int | None = None
    sent_bytes: int | None = None
    detail: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result in GOOD_RESULTS


def _run(data: dict[str, Any] | None) -> BackupRun | None:
    return None if data is None else from_dict(BackupRun, data)


@dataclass(frozen=True)
class BackupJob:
    name: str
    source: str  # SHARE or SHARE/FOLDER
    destination: BackupDestination
    schedule: str | None  # cron, UTC; None: by hand only
    retention: BackupRetention
    options: BackupOptions
    created_ns: int
    next_run_s: float | None = None
    last_run: BackupRun | None = None  # backup.list only
    describe: dict[str, str] = field(default_factory=dict)  # destination, retention in words
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def destination_words(self) -> str:
        return self.describe.get("destination", self.destination.kind)

    @property
    def retention_words(self) -> str:
        return self.describe.get("retention", "")

    @staticmethod
    def from_json(data: dict[str, Any]) -> BackupJob:
        return _typed(BackupJob, data,
                      destination=from_dict(BackupDestination, data["destination"]),
                      retention=from_dict(BackupRetention, data.get("retention") or {}),
                      options=from_dict(BackupOptions, data.get("options") or {}),
                      last_run=_run(data.get("last_run")))


@dataclass(frozen=True)
class RunProgress:
    """A running job's progress (nasfs.backup.progress). `total_bytes` is estimated from
    the copy tool's percent; rate and time left are None until known."""

    phase: str  # starting, snapshot, copy, manifest, verify, rotate
    bytes_done: int = 0
    files_done: int = 0  # files copied (unchanged files are not copied)
    rate: str = ""
    percent: int = 0
    elapsed_s: float = 0.0
    total_bytes: int | None = None
    files_checked: int | None = None  # of files_total looked at (rsync only)
    files_total: int | None = None
    rate_bytes_per_s: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class BackupStatus:
    name: str
    source: str
    destination: str  # in words
    running: bool
    queued: bool
    progress: RunProgress | None = None
    generation: str | None = None  # the one being made while running
    last_run: BackupRun | None = None
    last_success: BackupRun | None = None
    next_run_s: float | None = None
    one_touch: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def from_json(data: dict[str, Any]) -> BackupStatus:
        progress = data.get("progress")
        return _typed(BackupStatus, data,
                      progress=None if progress is None else from_dict(RunProgress, progress),
                      last_run=_run(data.get("last_run")),
                      last_success=_run(data.get("last_success")))


@dataclass(frozen=True)
class RunOutcome:
    """The answer of `backup.run`: the run's result (waited for), or only `queued`."""

    name: str
    result: str | None = None
    detail: str | None = None
    generation: str | None = None
    files: int | None = None
    bytes: int | None = None
    sent_bytes: int | None = None
    removed: list[str] = field(default_factory=list)
    removable: str | None = None  # a USB disk let go: it may be removed
    queued: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def succeeded(self) -> bool:
        return self.result in GOOD_RESULTS


@dataclass(frozen=True)
class Cancelled:
    name: str
    cancelled: bool
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Generation:
    name: str  # its stamp, 2026-12-01T190000Z (UTC), or .incomplete-STAMP
    time_s: float | None
    files: int | None
    bytes: int | None
    incomplete: bool = False  # an interrupted run's folder: the next run continues it
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class GenerationFile:
    path: str  # inside the job's source
    size: int
    mtime_ns: int
    blake3: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class VerifyReport:
    generation: str
    ok: bool
    files: int
    bytes: int
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Restored:
    generation: str
    path: str  # where it is now, from the volume root
    files: int
    bytes: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class BackupDisk:
    uuid: str
    device: str
    fstype: str | None
    label: str | None
    model: str | None
    size: int
    mountpoints: list[str] = field(default_factory=list)
    describe: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class DestinationSpace:
    """Room at a job's destination (nasfs.backup.space): `reachable` false with `detail`
    saying why (a USB disk not plugged in); free space may be unknown (None)."""

    name: str
    reachable: bool
    free_bytes: int | None = None
    total_bytes: int | None = None
    detail: str = ""
    # Measured at the end of the job's last good run (None: never), for when the
    # destination cannot be measured now (a USB disk not plugged in).
    last_free_bytes: int | None = None
    last_total_bytes: int | None = None
    last_measured_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class HostKey:
    """A host key another box offers (backup.host_keys), to compare before pinning it."""

    type: str  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
    fingerprint: str  # SHA256:...
    key: str  # 'TYPE BASE64'
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class CloudRemote:
    """A cloud remote configured in nasfs's rclone config (backup.remotes): the job key it
    belongs to, its backend type, whether it is encrypted, where it is (no secrets)."""

    key: str
    type: str
    crypt: bool
    where: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# BackupClient has methods named like the types' fields; lists of them by name here.
Jobs = list[BackupJob]


class BackupClient:
    def __init__(self, client: Caller) -> None:
        self.client = client

    def add(self, job: dict[str, Any], **extra: Any) -> BackupJob:
        return BackupJob.from_json(self.client.call("backup.add", {"job": job, **extra}))

    def edit(self, name: str, changes: dict[str, Any], **extra: Any) -> BackupJob:
        return BackupJob.from_json(self.client.call(
            "backup.edit", {"name": name, "changes": changes, **extra}))

    def delete(self, name: str) -> None:
        self.client.call("backup.del", {"name": name})

    def jobs(self) -> Jobs:
        return [BackupJob.from_json(j) for j in self.client.call("backup.list", {})]

    def status(self, name: str | None = None) -> list[BackupStatus]:
        return [BackupStatus.from_json(s)
                for s in self.client.call("backup.status", {"name": name})]

    def run(self, name: str, *, wait: bool = True) -> RunOutcome:
        """Run `name` now; with `wait` the answer is the run's result, else it is queued."""
        return _typed(RunOutcome, self.client.call("backup.run", {"name": name,
                                                                  "wait": wait}))

    def cancel(self, name: str) -> Cancelled:
        return _typed(Cancelled, self.client.call("backup.cancel", {"name": name}))

    def generations(self, name: str) -> list[Generation]:
        return [_typed(Generation, g) for g in self.client.call(
            "backup.generations", {"name": name, "generation": None, "path": None})]

    def files(self, name: str, generation: str | None = None,
              path: str | None = None) -> list[GenerationFile]:
        """The files of `generation` (default the newest) under `path`, from its manifest."""
        return [_typed(GenerationFile, f) for f in self.client.call(
            "backup.generations", {"name": name, "generation": generation,
                                   "path": path or ""})]

    def verify(self, name: str, generation: str | None = None) -> VerifyReport:
        return _typed(VerifyReport, self.client.call(
            "backup.verify", {"name": name, "generation": generation}))

    def restore(self, name: str, path: str, generation: str | None = None,
                to: str | None = None) -> Restored:
        return _typed(Restored, self.client.call("backup.restore", {
            "name": name, "path": path, "generation": generation, "to": to}))

    def key(self) -> str:
        return str(self.client.call("backup.key", {})["public_key"])

    def disks(self) -> list[BackupDisk]:
        return [_typed(BackupDisk, d) for d in self.client.call("backup.disks", {})]

    def space(self, name: str) -> DestinationSpace:
        return _typed(DestinationSpace, self.client.call("backup.space", {"name": name}))

    def host_keys(self, host: str, port: int = 22) -> list[HostKey]:
        return [_typed(HostKey, k) for k in self.client.call(
            "backup.host_keys", {"host": host, "port": port})]

    def remotes(self) -> list[CloudRemote]:
        return [_typed(CloudRemote, r) for r in self.client.call("backup.remotes", {})]
