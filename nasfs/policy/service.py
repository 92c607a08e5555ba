"""`PolicyService`: owns `policy.db` and `audit.db` of one array and everything built on them
(accounts, lock-out, shares, settings, the logs), and is the seam the FUSE layer uses.

Threads: the databases are touched only under `policy_lock` / `audit_lock`, so the
administrative operations may run in worker threads (they hash passwords, which takes tens
of milliseconds). The hot-path reads (`identity_for`, `share`, `decide`, `version`) use the
immutable snapshot and never touch SQLite. The access-log writer (`audit`) exists while
`run` runs in a trio nursery.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from nasfs.clock import Clock, SystemClock
from nasfs.db import EventSink, ReplicatedDB
from nasfs.db.replicated import CopyGuard
from nasfs.operations import SYSTEM_ACTOR
from nasfs.policy.accounts import Accounts
from nasfs.policy.acl import Decision, Principal
from nasfs.policy.admin import AdminApi
from nasfs.policy.auditlog import AuditLog
from nasfs.policy.auditstore import AuditStore, LogEntry
from nasfs.policy.core import ShareCallback
from nasfs.policy.hooks import PolicyHooks
from nasfs.policy.lockout import LockOut
from nasfs.policy.records import GroupRecord, ShareRecord, UserRecord
from nasfs.policy.repository import PolicyRepository
from nasfs.policy.schema import AUDIT_MIGRATIONS, POLICY_MIGRATIONS
from nasfs.policy.settings import SETTINGS
from nasfs.policy.shares import Shares
from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)



def db_dirs(members: dict[int, Path] | Sequence[Path]) -> list[Path]:
    """`MEMBER/nasfs/db` of each present member (beside store.db and fs.db)."""
    paths = [members[i] for i in sorted(members)] if isinstance(members, dict) else members
    return [Path(p) / "nasfs" / "db" for p in paths]


class PolicyService:
    """See the module docstring. Build with `PolicyService.open`, finish with `close`."""

    def __init__(self, policy_db: ReplicatedDB, audit_db: ReplicatedDB, clock: Clock,
                 hooks: PolicyHooks) -> None:
        self.clock = clock
        # The calls up into the SMB export (Samba's passwords, the log's client column).
        self.hooks = hooks
        self.policy_db = policy_db
        self.audit_db = audit_db
        self.repo = PolicyRepository(policy_db)
        self.audit_store = AuditStore(audit_db)
        self.policy_lock = threading.RLock()
        self.audit_lock = threading.Lock()
        # Called (in the thread that made the change, after commit) with each new share; the
        # FUSE integration registers the creation of the share's directory here.
        self.on_share_created: list[ShareCallback] = []
        self.on_share_deleted: list[ShareCallback] = []
        # Called (in the writing thread, after the rows are durable) with each batch of
        # system-log rows: the daemon's mail notifier picks the lock-outs from them.
        self.on_system_log: list[Callable[[Sequence[LogEntry]], None]] = []
        # Called (under the policy lock, after commit) with each new snapshot, and with each
        # changed setting: the daemon's Samba service regenerates smb.conf here.
        self.on_reload: list[Callable[[PolicySnapshot], None]] = []
        self.on_setting_changed: list[Callable[[str, Any], None]] = []
        self.audit: AuditLog | None = None
        self._snapshot = PolicySnapshot.build(0, [], [], [])
        self._published_accounts = False
        self.reload()
        self.accounts = Accounts(self)
        self.lockout = LockOut(self)
        self.shares = Shares(self)
        self.admin = AdminApi(self)

    @classmethod
    def open(cls, dirs: Sequence[Path], *, nparity: int, identity: str | None,
             hooks: PolicyHooks, clock: Clock | None = None, events: EventSink | None = None,
             copy_ok: CopyGuard | None = None) -> PolicyService:
        """Open (creating if needed) policy.db and audit.db with a copy in each of `dirs`.

        `hooks` are the calls out to the services above (nasfs.policy.hooks): every opener
        says which, so none loses Samba's password hand-off by forgetting it.

        Raises nasfs.db.MetadataLostError when copies exist but none is usable.
        """
        policy_db = ReplicatedDB.open("policy", list(dirs), sync_copies=nparity + 1,
                                      migrations=POLICY_MIGRATIONS, identity=identity,
                                      events=events, copy_ok=copy_ok)
        try:
            audit_db = ReplicatedDB.open("audit", list(dirs), sync_copies=nparity + 1,
                                         migrations=AUDIT_MIGRATIONS, identity=identity,
                                         events=events, copy_ok=copy_ok)
        except BaseException:
            policy_db.close()
            raise
        return cls(policy_db, audit_db, clock or SystemClock(), hooks)

    def close(self) -> None:
        # Both, even when the first fails (a lost member): the audit log must be closed too.
        try:
            with self.policy_lock:
                self.policy_db.close()
        finally:
            with self.audit_lock:
                self.audit_db.close()

    # -- the hot-path seam -----------------------------------------------------------------

    @property
    def version(self) -> int:
        """Goes up with every change of accounts, groups, shares or ACLs."""
        return self._snapshot.version

    @property
    def snapshot(self) -> PolicySnapshot:
        return self._snapshot

    def identity_for(self, uid: int, gid: int) -> Principal:
        return self._snapshot.identity_for(uid, gid)

    def share(self, name: str) -> ShareRecord | None:
        return self._snapshot.share(name)

    def decide(self, who: Principal, share: ShareRecord, home_owner: str | None = None) -> Decision:
        return self._snapshot.decide(who, share, home_owner)

    def reload(self) -> None:
        """Rebuild the snapshot from the database (after a committed change)."""
        with self.policy_lock:
            users, groups = self.repo.users(), self.repo.groups()
            self._snapshot = PolicySnapshot.build(
                self._snapshot.version + 1, users, groups, self.repo.shares())
            self._publish_accounts(users, groups)
            for callback in self.on_reload:
                callback(self._snapshot)

    def _publish_accounts(self, users: list[UserRecord], groups: list[GroupRecord]) -> None:
        """Keep the OS's view of the NAS accounts in step (setting `os.accounts`)."""
        from nasfs.policy import osaccounts

        if self.repo.settings().get("os.accounts", SETTINGS["os.accounts"].default):
            osaccounts.sync(users, groups, self.policy_db.identity)
            self._published_accounts = True
        elif self._published_accounts:
            # Turned off while this service ran: withdraw what it published.
            osaccounts.clear()
            self._published_accounts = False

    def os_accounts(self) -> bool:
        """Whether the NAS accounts are published to the operating system."""
        return bool(self.setting("os.accounts"))

    # -- settings ----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        with self.policy_lock:
            stored = self.repo.settings()
        return {key: stored.get(key, s.default) for key, s in SETTINGS.items()}

    def setting(self, key: str) -> Any:
        return self.settings()[key]

    # -- logging -------------------------------------------------------------------------------

    def log_system(self, entries: Sequence[LogEntry]) -> None:
        """Write system-log rows now, durably (administrative actions are rare and must not
        be lost if the daemon dies right after answering). Every row names who acted: the
        user of its uid, or `nasfs` for what the box did by itself (schedules, retention,
        a terminal's lock)."""
        entries = [self._with_actor(entry) for entry in entries]
        with self.audit_lock:
            self.audit_store.append("system", entries, self.clock.now_ns(), durable=True)
        for callback in self.on_system_log:
            try:
                callback(entries)
            except Exception:
                log.exception("system-log listener failed")

    def _with_actor(self, entry: LogEntry) -> LogEntry:
        if entry.user is not None:
            return entry
        if entry.uid is None:
            return dataclasses.replace(entry, user=SYSTEM_ACTOR)
        user = self._snapshot.users_by_uid.get(entry.uid)
        name = user.name if user else ("root" if entry.uid == 0 else None)
        return entry if name is None else dataclasses.replace(entry, user=name)

    def write_batch(self, kind: str, entries: Sequence[LogEntry]) -> None:
        """The access-log writer's batch function (runs in a worker thread)."""
        with self.audit_lock:
            self.audit_store.append(kind, entries, self.clock.now_ns())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the access-log writer until cancelled; then write what is queued."""
        audit = AuditLog(self.write_batch, self.clock)
        async with trio.open_nursery() as nursery:
            await nursery.start(audit.run)
            self.audit = audit
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await audit.aclose()
                self.audit = None

    def refresh_lagging(self) -> None:
        """Bring lagging database copies up to date (periodic; worker thread)."""
        self.policy_db.refresh_lagging()
        self.audit_db.refresh_lagging()


def process_name(pid: int | None) -> str | None:
    """The `comm` of process `pid`, or None if it is gone."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None


def current_process() -> tuple[int, str | None]:
    return os.getpid(), process_name(os.getpid())
