"""A recovery session: the array's exclusive lock, the member survey, and the parts the
commands open on demand (read-only metadata copies, the store, the policy service).

The lock is taken first and held for the whole session, so no daemon can start while the
shell works; a running daemon makes the session refuse to start, naming its pid and mount
point. Nothing else is opened at start: a session begins even when the array cannot be
assembled or every metadata copy is damaged, and each command says what it lacks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nasfs import registry
from nasfs.errors import NasfsError
from nasfs.recovery.copies import CopyInfo, best_copy, open_read_only, survey_copies
from nasfs.recovery.members import MemberSurvey, survey_members
from nasfs.store.disks import disk_name
from nasfs.wire import codes

log = logging.getLogger(__name__)

PURPOSE = "nasfs recovery shell"


class RecoveryError(NasfsError):
    """A recovery command cannot do what was asked (the message says what is missing)."""

    wire_code = codes.RECOVERY


class DaemonRunning(registry.ArrayBusy):
    """A daemon (or another tool) owns the array; recovery works only on an idle array."""

    wire_code = codes.DAEMON_RUNNING


class RecoverySession:
    """See the module docstring. Use as a context manager (releases the lock)."""

    def __init__(self, members: Sequence[Path], run_dir: Path) -> None:
        self.members = [Path(m).absolute() for m in members]
        self.run_dir = run_dir
        self.survey = survey_members(self.members)
        if self.survey.label is None:
            raise RecoveryError(
                "none of the given directories carries a nasfs label: "
                + "; ".join(f"{f.path}: {f.reason}" for f in self.survey.findings))
        uuid = self.survey.label.array_uuid
        self.array_uuid = uuid
        self._lock = self._take_lock(run_dir, uuid)

    @staticmethod
    def _take_lock(run_dir: Path, uuid: str) -> registry.ArrayLock:
        record = registry.read_record(run_dir, uuid)
        if record is not None:
            where = (f"mounted at {record.mountpoint}" if record.mountpoint
                     else "not mounted")
            stop = (f"'nasfs umount {record.mountpoint}'" if record.mountpoint
                    else f"'kill {record.pid}'")
            raise DaemonRunning(
                f"array {uuid} is served by a running daemon (pid {record.pid}, {where}); "
                f"stop it first with {stop}")
        try:
            return registry.ArrayLock.acquire(run_dir, uuid, PURPOSE, what=f"array {uuid}")
        except registry.ArrayBusy as exc:
            raise DaemonRunning(f"{exc}; recovery needs the array to itself") from None

    def close(self) -> None:
        self._lock.release()

    def __enter__(self) -> RecoverySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what is there ---------------------------------------------------------------------

    @property
    def nparity(self) -> int:
        assert self.survey.label is not None
        return self.survey.label.nparity

    @property
    def member_count(self) -> int:
        assert self.survey.label is not None
        return self.survey.label.member_count

    @property
    def present(self) -> dict[int, Path]:
        return dict(self.survey.present)

    def resurvey(self, extra: Sequence[Path] = ()) -> MemberSurvey:
        """Look at the members again (after a rebuild added one, or a restore)."""
        for path in extra:
            path = Path(path).absolute()
            if path not in self.members:
                self.members.append(path)
        self.survey = survey_members(self.members)
        return self.survey

    def copies(self) -> dict[str, list[CopyInfo]]:
        return survey_copies(self.survey.present, self.array_uuid)

    def best(self, database: str) -> CopyInfo:
        """The copy commands read from; RecoveryError when none is usable."""
        copies = self.copies()[database]
        found = best_copy(copies)
        if found is None:
            detail = "; ".join(f"{disk_name(c.slot)}: {c.problem}" for c in copies) or "no members"
            raise RecoveryError(f"no usable copy of {database}.db is left ({detail})")
        return found

    @contextlib.contextmanager
    def read_metadata(self) -> Iterator[sqlite3.Connection]:
        """fs.db (best copy) with the store catalog attached as `store`, both read-only."""
        fs_copy = self.best("fs")
        store_copy = self.best("store")
        conn = open_read_only(fs_copy.path)
        try:
            conn.execute("ATTACH DATABASE ? AS store", (f"file:{store_copy.path}?mode=ro",))
            yield conn
        finally:
            conn.close()

    # -- the writing layers ----------------------------------------------------------------

    def require_assemblable(self, what: str) -> None:
        if not self.survey.assemblable:
            raise RecoveryError(
                f"{what} needs an assembled array, but slots "
                f"{', '.join(map(str, self.survey.missing))} are missing and parity "
                f"{self.nparity} covers only {self.nparity}; 'salvage' still copies out what "
                "is readable")

    @contextlib.contextmanager
    def open_store(self, what: str) -> Iterator[Any]:
        """The store opened as the daemon opens it (records missing members, repairs stale
        catalog copies), closed again afterwards."""
        from nasfs.store import Store

        self.require_assemblable(what)
        paths = [self.survey.present[i] for i in sorted(self.survey.present)]
        store = Store.open([*paths, *self.survey.empty_dirs])
        try:
            yield store
        finally:
            store.close()

    @contextlib.contextmanager
    def open_policy(self) -> Iterator[Any]:
        from nasfs.policy import PolicyService, db_dirs
        from nasfs.policy.hooks import NO_HOOKS

        copies = self.copies()
        for database in ("policy", "audit"):
            if not any(c.exists for c in copies[database]):
                raise RecoveryError(
                    f"this array has no {database}.db (no daemon has served it yet), so "
                    "there are no accounts to unlock")
        # No hooks: recovery unlocks accounts and reads logs; it sets no password and
        # serves no request (and nasfs.smb is not below it to connect).
        service = PolicyService.open(db_dirs(self.survey.present), nparity=self.nparity,
                                     identity=self.array_uuid, hooks=NO_HOOKS)
        try:
            yield service
        finally:
            service.close()

    def actor(self) -> Any:
        from nasfs.policy.admin import Actor

        return Actor(uid=os.getuid(), pid=os.getpid(), process="nasfs recovery")
