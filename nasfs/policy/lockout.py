"""Password checks with lock-out: the one path the console login and `nasfs auth check` use.

After `auth.max_failures` failures within `auth.window_s` seconds, the name is locked for
`auth.lock_s` seconds (or, with `auth.lock_mode = permanent`, until an administrator unlocks
it). The source (terminal name or remote address) is counted and locked the same way,
separately, so one attacker trying many names is locked before they can lock everyone out.
Names are counted whether or not such a user exists, so lock-out reveals nothing either.

The answer distinguishes "locked" from "wrong" only once a lock is in place; the attempt
that causes the lock is answered as an ordinary failure. Every failure, lock and unlock is
written to the system log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasfs.policy.auditstore import LogEntry
from nasfs.policy.passwords import verify_password
from nasfs.policy.records import LockRecord

if TYPE_CHECKING:
    from nasfs.policy.core import LockOutCore

log = logging.getLogger(__name__)

WRONG = "the user name or password is wrong"
NS = 1_000_000_000


def _remaining(ns: int) -> str:
    s = max(1, -(-ns // NS))  # rounded up: "1 more second" until it is really over
    if s < 120:
        return f"{s} more second{'s' if s != 1 else ''}"
    m = -(-s // 60)
    if m < 120:
        return f"{m} more minutes"
    return f"{m // 60} h {m % 60:02d} min more"


def unlock_command(lock: LockRecord) -> str:
    return (f"nasfs user unlock {lock.subject}" if lock.kind == "user"
            else f"nasfs user unlock --source {lock.subject}")


def locked_message(locks: list[LockRecord], now_ns: int) -> str:
    """What a refused login is told: what is locked, for how long, and how to unlock it."""
    parts = []
    for lock in locks:
        what = (f"the name {lock.subject}" if lock.kind == "user"
                else f"logins from {lock.subject}")
        how = ("until an administrator unlocks it" if lock.until_ns is None
               else f"for {_remaining(lock.until_ns - now_ns)}")
        parts.append(f"{what} {'is' if lock.kind == 'user' else 'are'} locked {how}")
    commands = " and ".join(f"'{unlock_command(lock)}'" for lock in locks)
    return (f"too many failed logins: {'; '.join(parts)}. An administrator can unlock "
            f"{'it' if len(locks) == 1 else 'them'} now with {commands}.")


@dataclass(frozen=True)
class UserUnlock:
    """What unlocking a user did: its own lock, and the sources it freed or could not."""

    was_locked: bool
    sources_unlocked: tuple[str, ...]
    sources_still_locked: tuple[str, ...]  # locked by other names' failures too


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    locked: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "locked": self.locked, "message": self.message}


class LockOut:
    def __init__(self, service: LockOutCore) -> None:
        self.service = service
        self.repo = service.repo

    def _active_lock(self, kind: str, subject: str, now_ns: int,
                     log_rows: list[LogEntry]) -> LockRecord | None:
        """The lock on `subject` if it still holds; an expired one is removed (and logged)."""
        lock = self.repo.lock(kind, subject)
        if lock is None:
            return None
        if lock.until_ns is not None and lock.until_ns <= now_ns:
            self.repo.remove_lock(kind, subject)
            self.repo.clear_failures(kind, subject)
            log_rows.append(_row("auth.unlock", kind, subject, "OK", "the lock expired"))
            return None
        return lock

    def check(self, name: str, password: str, source: str) -> AuthResult:
        """Check a login attempt (see the module docstring). Blocking: hashes (~50 ms)."""
        with self.service.policy_lock:
            user = self.repo.user(name)
        # Always verify, also for unknown names and locked subjects: the same work each time.
        matches = verify_password(user.pw_hash if user else None, password)
        return self.record(name, source, matches and user is not None)

    def record(self, name: str, source: str, ok: bool) -> AuthResult:
        """Count a login attempt whose password was checked elsewhere (`ok`: it was right
        and the user exists), as `check` counts its own: Samba's SMB logins come here."""
        settings = self.service.settings()
        now = self.service.clock.now_ns()
        rows: list[LogEntry] = []
        with self.service.policy_lock, self.repo.db.transaction(durable=True):
            locked = [lock for kind, subject in (("user", name), ("source", source))
                      if (lock := self._active_lock(kind, subject, now, rows)) is not None]
            if locked:
                rows.append(_row("auth.login", "user", name, "locked",
                                 f"refused while locked, from {source}", source=source))
                result = AuthResult(False, True, locked_message(locked, now))
            elif ok:
                self.repo.clear_failures("user", name)
                rows.append(_row("auth.login", "user", name, "OK", f"from {source}",
                                 source=source))
                result = AuthResult(True, False, "ok")
            else:
                rows.append(_row("auth.login", "user", name, "EACCES",
                                 f"wrong name or password, from {source}", source=source))
                window_start = now - int(settings["auth.window_s"]) * NS
                for kind, subject in (("user", name), ("source", source)):
                    # A source's failures remember the name tried: unlocking that user can
                    # then lift a source lock that only their failures caused.
                    self.repo.add_failure(kind, subject, now,
                                          name if kind == "source" else None)
                    failures = self.repo.count_failures(kind, subject, window_start)
                    if failures >= int(settings["auth.max_failures"]):
                        permanent = settings["auth.lock_mode"] == "permanent"
                        until = None if permanent else now + int(settings["auth.lock_s"]) * NS
                        names = (self.repo.failure_names(kind, subject, window_start)
                                 if kind == "source" else ())
                        self.repo.set_lock(kind, subject, now, until, names)
                        self.repo.clear_failures(kind, subject)
                        how = ("until an administrator unlocks it" if permanent
                               else f"for {settings['auth.lock_s']} s")
                        rows.append(_row("auth.lock", kind, subject, "OK",
                                         f"{failures} failed logins within "
                                         f"{settings['auth.window_s']} s; locked {how}"))
                self.repo.prune_failures(window_start)
                result = AuthResult(False, False, WRONG)
        self.service.log_system(rows)
        return result

    def unlock(self, kind: str, subject: str) -> bool:
        """Remove the lock and failure count of a name (`kind` "user") or a source;
        False if it was not locked."""
        with self.service.policy_lock, self.repo.db.transaction(durable=True):
            removed = self.repo.remove_lock(kind, subject)
            self.repo.clear_failures(kind, subject)
        return removed

    def unlock_user(self, name: str) -> UserUnlock:
        """Unlock the name, and every source locked only by failures for that name; say
        which sources stay locked because other names failed there too."""
        now = self.service.clock.now_ns()
        freed: list[str] = []
        still: list[str] = []
        with self.service.policy_lock, self.repo.db.transaction(durable=True):
            was = self.repo.remove_lock("user", name)
            self.repo.clear_failures("user", name)
            for lock in self.repo.locks():
                if lock.kind != "source" or name not in lock.names:
                    continue
                if lock.until_ns is not None and lock.until_ns <= now:
                    continue
                if set(lock.names) == {name}:
                    self.repo.remove_lock("source", lock.subject)
                    self.repo.clear_failures("source", lock.subject)
                    freed.append(lock.subject)
                else:
                    still.append(lock.subject)
        return UserUnlock(was, tuple(freed), tuple(still))

    def locks(self) -> list[LockRecord]:
        now = self.service.clock.now_ns()
        with self.service.policy_lock:
            return [lock for lock in self.repo.locks()
                    if lock.until_ns is None or lock.until_ns > now]

    def is_locked(self, kind: str, subject: str) -> bool:
        return any(lock.kind == kind and lock.subject == subject for lock in self.locks())


def _row(operation: str, kind: str, subject: str, result: str, detail: str,
         source: str | None = None) -> LogEntry:
    return LogEntry(operation=operation, result=result,
                    user=subject if kind == "user" else None,
                    path=f"{kind}:{subject}", second_path=source, detail=detail)
