"""The administrative API of the policy layer: one function per control method, taking the
method's JSON params and returning its JSON result.

The daemon's method modules (nasfs/daemon/methods/{users,groups,auth,shares,log,settings}.py)
run these in a worker thread; the CLI calls the very same functions when no daemon runs
(`nasfs.policy.offline`). Every call that changes something, checks a password, verifies or
exports a log writes a system-log row saying who (the caller's uid), what and the result —
also when it fails. Pure reads (lists, show, query, settings.get) are not logged.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nasfs.errors import BadParams, NasfsError
from nasfs.params import param
from nasfs.policy import osaccounts
from nasfs.policy.auditstore import KINDS, AuditStore, LogEntry, LogFilter
from nasfs.policy.core import PolicyCore
from nasfs.policy.errors import InvalidValue, NotFound
from nasfs.policy.export import check_encoding, write_csv
from nasfs.policy.settings import SETTINGS, parse_setting, shown_value
from nasfs.policy.shares import OPTIONS, Shares

if TYPE_CHECKING:
    from nasfs.policy.accounts import Accounts
    from nasfs.policy.lockout import LockOut
    from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)

Params = dict[str, Any]


class AdminCore(PolicyCore, Protocol):
    """What the admin API uses of the policy service: its parts (accounts, lock-out,
    shares), the audit store and its lock, the system log, and the settings' listeners."""

    accounts: Accounts
    lockout: LockOut
    shares: Shares
    audit_lock: threading.Lock
    audit_store: AuditStore
    on_setting_changed: list[Callable[[str, Any], None]]

    @property
    def snapshot(self) -> PolicySnapshot: ...

    def setting(self, key: str) -> Any: ...

    def log_system(self, entries: Sequence[LogEntry]) -> None: ...


@dataclass(frozen=True)
class Actor:
    """Who made an administrative call: the control peer (or the CLI's own process)."""

    uid: int
    pid: int | None = None
    process: str | None = None


def parse_time(value: Any, what: str) -> int | None:
    """UTC ns from seconds since the epoch (int/float) or ISO 8601 text (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidValue(f"{what} must be a time, not {value!r}")
    if isinstance(value, int | float):
        return int(value * 1_000_000_000)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(float(text) * 1_000_000_000)
        except ValueError:
            pass
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(f"{what} {value!r} is not a time: use ISO 8601 "
                               "(2025-04-01 or 2025-04-01T09:30:00) or seconds since 1970"
                               ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return int(moment.timestamp() * 1_000_000) * 1000
    raise InvalidValue(f"{what} must be a time, not {value!r}")


def log_kind(params: Params, method: str) -> str:
    kind = param(params, method, "kind", str, "access")
    if kind not in KINDS:
        raise BadParams(f"parameter 'kind' of method '{method}' must be access or system")
    return str(kind)


def log_filter(params: Params, method: str) -> LogFilter:
    return LogFilter(
        since_ns=parse_time(params.get("since"), "since"),
        until_ns=parse_time(params.get("until"), "until"),
        user=param(params, method, "user", str, None),
        share=param(params, method, "share", str, None),
        operation=param(params, method, "op", str, None),
        result=param(params, method, "result", str, None))


class AdminApi:
    """Method name → handler (see the module docstring)."""

    def __init__(self, service: AdminCore) -> None:
        self.service = service
        self.handlers: dict[str, Callable[[Params, Actor], Any]] = {
            "user.list": self.user_list, "user.add": self.user_add, "user.del": self.user_del,
            "user.passwd": self.user_passwd, "user.unlock": self.user_unlock,
            "group.list": self.group_list, "group.add": self.group_add,
            "group.del": self.group_del, "group.adduser": self.group_adduser,
            "group.deluser": self.group_deluser,
            "auth.check": self.auth_check, "auth.locks": self.auth_locks,
            "share.list": self.share_list, "share.show": self.share_show,
            "share.create": self.share_create, "share.edit": self.share_edit,
            "share.del": self.share_del, "share.acl": self.share_acl,
            "share.effective": self.share_effective,
            "log.query": self.log_query, "log.verify": self.log_verify,
            "log.export": self.log_export,
            "settings.get": self.settings_get, "settings.set": self.settings_set,
        }

    def methods(self) -> list[str]:
        return sorted(self.handlers)

    def call(self, method: str, params: Params | None, actor: Actor) -> Any:
        handler = self.handlers.get(method)
        if handler is None:
            raise NotFound(f"the policy layer has no method {method!r}")
        return handler(dict(params or {}), actor)

    # -- logging of administrative calls ------------------------------------------------

    def _logged(self, actor: Actor, operation: str, target: str | None,
                work: Callable[[], Any], detail: str | None = None) -> Any:
        try:
            value = work()
        except NasfsError as exc:
            self._system(actor, operation, target, exc.wire_code, str(exc))
            raise
        self._system(actor, operation, target, "OK", detail)
        return value

    def _system(self, actor: Actor, operation: str, target: str | None, result: str,
                detail: str | None) -> None:
        snapshot = self.service.snapshot
        user = snapshot.users_by_uid.get(actor.uid)
        name = user.name if user else ("root" if actor.uid == 0 else None)
        self.service.log_system([LogEntry(
            operation=operation, result=result, user=name, uid=actor.uid, pid=actor.pid,
            process=actor.process, path=target, detail=detail, admin=actor.uid == 0)])

    # -- users and groups ------------------------------------------------------------------

    def user_list(self, p: Params, actor: Actor) -> Any:
        accounts = self.service.accounts
        locked = {lock.subject for lock in self.service.lockout.locks() if lock.kind == "user"}
        return [u.to_json(groups=accounts.groups_of(u.name), locked=u.name in locked)
                for u in accounts.users()]

    def user_add(self, p: Params, actor: Actor) -> Any:
        name = param(p, "user.add", "name", str)
        uid = param(p, "user.add", "uid", int)
        password = param(p, "user.add", "password", str, None)
        user = self._logged(actor, "user.add", name, lambda: self.service.accounts.add_user(
            name, uid, password), f"uid {uid}" + (", with a password" if password else ""))
        return user.to_json(groups=[])

    def user_del(self, p: Params, actor: Actor) -> Any:
        name = param(p, "user.del", "name", str)
        self._logged(actor, "user.del", name, lambda: self.service.accounts.delete_user(name))
        return {"name": name}

    def user_passwd(self, p: Params, actor: Actor) -> Any:
        name = param(p, "user.passwd", "name", str)
        password = param(p, "user.passwd", "password", (str, type(None)))
        self._logged(actor, "user.passwd", name,
                     lambda: self.service.accounts.set_password(name, password),
                     "password set" if password is not None else "password removed")
        return {"name": name}

    def user_unlock(self, p: Params, actor: Actor) -> Any:
        name = param(p, "user.unlock", "name", str, None)
        source = param(p, "user.unlock", "source", str, None)
        if name is None and source is None:
            raise BadParams("method 'user.unlock' needs the parameter 'name' (or 'source')")
        if name is None:
            was = self._logged(actor, "auth.unlock", f"source:{source}",
                               lambda: self.service.lockout.unlock("source", source),
                               "unlocked by an administrator")
            return {"name": name, "source": source, "was_locked": was,
                    "sources_unlocked": [], "sources_still_locked": []}
        done = self._logged(actor, "auth.unlock", f"user:{name}",
                            lambda: self.service.lockout.unlock_user(name),
                            "unlocked by an administrator")
        return {"name": name, "source": source,
                "was_locked": done.was_locked or bool(done.sources_unlocked),
                "sources_unlocked": list(done.sources_unlocked),
                "sources_still_locked": list(done.sources_still_locked)}

    def group_list(self, p: Params, actor: Actor) -> Any:
        return [g.to_json() for g in self.service.accounts.groups()]

    def group_add(self, p: Params, actor: Actor) -> Any:
        name = param(p, "group.add", "name", str)
        gid = param(p, "group.add", "gid", int)
        group = self._logged(actor, "group.add", name,
                             lambda: self.service.accounts.add_group(name, gid), f"gid {gid}")
        return group.to_json()

    def group_del(self, p: Params, actor: Actor) -> Any:
        name = param(p, "group.del", "name", str)
        self._logged(actor, "group.del", name, lambda: self.service.accounts.delete_group(name))
        return {"name": name}

    def group_adduser(self, p: Params, actor: Actor) -> Any:
        group = param(p, "group.adduser", "group", str)
        user = param(p, "group.adduser", "user", str)
        added = self._logged(actor, "group.adduser", group,
                             lambda: self.service.accounts.add_member(group, user),
                             f"added user {user}")
        return {"group": group, "user": user, "added": added}

    def group_deluser(self, p: Params, actor: Actor) -> Any:
        group = param(p, "group.deluser", "group", str)
        user = param(p, "group.deluser", "user", str)
        self._logged(actor, "group.deluser", group,
                     lambda: self.service.accounts.remove_member(group, user),
                     f"removed user {user}")
        return {"group": group, "user": user}

    # -- authentication ------------------------------------------------------------------

    def auth_check(self, p: Params, actor: Actor) -> Any:
        name = param(p, "auth.check", "name", str)
        password = param(p, "auth.check", "password", str)
        source = param(p, "auth.check", "source", str, None) or f"uid {actor.uid}"
        # LockOut.check writes its own log rows (failure, lock, unlock, success).
        return self.service.lockout.check(name, password, source).to_json()

    def auth_locks(self, p: Params, actor: Actor) -> Any:
        return [{"kind": lock.kind, "subject": lock.subject, "since_ns": lock.since_ns,
                 "until_ns": lock.until_ns} for lock in self.service.lockout.locks()]

    # -- shares --------------------------------------------------------------------------

    def share_list(self, p: Params, actor: Actor) -> Any:
        return [s.to_json() for s in self.service.shares.list()]

    def share_show(self, p: Params, actor: Actor) -> Any:
        return self.service.shares.get(param(p, "share.show", "name", str)).to_json()

    @staticmethod
    def _share_options(p: Params) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k in OPTIONS}

    def share_create(self, p: Params, actor: Actor) -> Any:
        name = param(p, "share.create", "name", str)
        options = self._share_options(p)
        share = self._logged(actor, "share.create", name,
                             lambda: self.service.shares.create(name, options),
                             _describe(options))
        return share.to_json()

    def share_edit(self, p: Params, actor: Actor) -> Any:
        name = param(p, "share.edit", "name", str)
        options = self._share_options(p)
        share = self._logged(actor, "share.edit", name,
                             lambda: self.service.shares.edit(name, options), _describe(options))
        return share.to_json()

    def share_del(self, p: Params, actor: Actor) -> Any:
        name = param(p, "share.del", "name", str)
        self._logged(actor, "share.del", name, lambda: self.service.shares.delete(name))
        return {"name": name}

    def share_acl(self, p: Params, actor: Actor) -> Any:
        name = param(p, "share.acl", "name", str)
        kind = param(p, "share.acl", "kind", str)
        principal = param(p, "share.acl", "principal", str, None)
        access = param(p, "share.acl", "access", str)
        who = "everyone" if kind == "everyone" else f"{kind} {principal}"
        share = self._logged(actor, "share.acl", name, lambda: self.service.shares.set_acl(
            name, kind, principal, access), f"{who}: {access}")
        return share.to_json()

    def share_effective(self, p: Params, actor: Actor) -> Any:
        name = param(p, "share.effective", "name", str)
        user = param(p, "share.effective", "user", str)
        home = param(p, "share.effective", "home", str, None)
        decision, why = self.service.shares.effective_and_why(name, user, home)
        return {"share": name, "user": user, "access": decision.access.word,
                "admin_access": decision.admin, "why": why}

    # -- logs ----------------------------------------------------------------------------

    def log_query(self, p: Params, actor: Actor) -> Any:
        kind = log_kind(p, "log.query")
        flt = log_filter(p, "log.query")
        after_id = param(p, "log.query", "after_id", int, 0)
        before_id = param(p, "log.query", "before_id", int, None)
        limit = param(p, "log.query", "limit", int, 100)
        descending = param(p, "log.query", "descending", bool, False)
        with self.service.audit_lock:
            rows = self.service.audit_store.query(kind, flt, after_id=after_id,
                                                  before_id=before_id, limit=limit,
                                                  descending=descending)
        return {"kind": kind, "rows": [r.to_json() for r in rows],
                "last_id": rows[-1].id if rows else None}

    def log_verify(self, p: Params, actor: Actor) -> Any:
        kind = log_kind(p, "log.verify")
        with self.service.audit_lock:
            report = self.service.audit_store.verify(kind)
        self._system(actor, "log.verify", kind, "OK" if report.ok else "broken",
                     report.problem or f"{report.rows} rows verified")
        return report.to_json()

    def log_export(self, p: Params, actor: Actor) -> Any:
        kind = log_kind(p, "log.export")
        flt = log_filter(p, "log.export")
        encoding = check_encoding(param(p, "log.export", "encoding", str, "utf-8"))
        target = param(p, "log.export", "path", str, None)
        if target is None:
            folder = self.service.setting("log.export_dir")
            if not folder:
                raise BadParams("method 'log.export' needs the parameter 'path' (no "
                                "log.export_dir is set)")
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
            target = str(Path(folder) / f"{kind}-log-{stamp}.csv")
        path = Path(target)
        if not path.is_absolute():
            raise BadParams("parameter 'path' of method 'log.export' must be an absolute path")

        def export() -> int:
            with self.service.audit_lock:
                rows = list(self.service.audit_store.iterate(kind, flt))
            return write_csv(rows, path, encoding)

        count = self._logged(actor, "log.export", str(path), export, f"{kind} log, {encoding}")
        return {"path": str(path), "rows": count, "encoding": encoding}

    # -- settings ------------------------------------------------------------------------

    def settings_get(self, p: Params, actor: Actor) -> Any:
        values = self.service.settings()
        key = param(p, "settings.get", "key", str, None)
        if key is not None:
            if key not in SETTINGS:
                parse_setting(key, None)  # raises NotFound naming the keys
            return {key: shown_value(key, values[key])}
        return {k: shown_value(k, v) for k, v in values.items()}

    def settings_set(self, p: Params, actor: Actor) -> Any:
        key = param(p, "settings.set", "key", str)
        if "value" not in p:
            raise BadParams("method 'settings.set' needs the parameter 'value'")

        def store() -> Any:
            value = parse_setting(key, p["value"])
            with self.service.policy_lock:
                if key == "os.accounts" and value:
                    # Refuse before publishing anything: one clash would hand a system
                    # account's files to a NAS user (or the other way round).
                    for user in self.service.repo.users():
                        if user.uid != 0:
                            osaccounts.check_user(user.name, user.uid)
                    for group in self.service.repo.groups():
                        osaccounts.check_group(group.name, group.gid)
                check_smb_setting(self.service.settings(), key, value)
                with self.service.repo.db.transaction(durable=True):
                    self.service.repo.set_setting(key, value)
                if key == "os.accounts":
                    self.service.reload()
                for callback in self.service.on_setting_changed:
                    callback(key, value)
            return value

        value = self._logged(actor, "settings.set", key, store,
                             f"= {shown_value(key, p['value'])!r}")
        return {key: shown_value(key, value)}


def check_smb_setting(settings: dict[str, Any], key: str, value: Any) -> None:
    """SMB serves NAS users as operating-system users: it needs `os.accounts` on."""
    if key == "smb.enabled" and value and not settings["os.accounts"]:
        raise InvalidValue("SMB needs the NAS accounts published to the operating system: "
                           "run 'nasfs settings set os.accounts yes' first")
    if key == "os.accounts" and not value and settings["smb.enabled"]:
        raise InvalidValue("SMB is on and serves the NAS accounts as system accounts: "
                           "run 'nasfs smb disable' first")


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "defaults"
