"""Typed calls for the policy methods (accounts, auth, shares, logs, settings).

    with Client.connect("/srv/nas") as client:
        policy = PolicyClient(client)
        policy.user_add("alice", 1001, password="...")
        print(policy.share_effective("docs", "alice").access)

`PolicyClient` wraps anything with `call(method, params)`: the daemon `Client`, or, for the
CLI with no daemon running, `nasfs.policy.offline.OfflineCaller` over the opened databases —
the same calls, the same answers. Never imports trio (the console uses it from threads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nasfs.wire.types import UnlockReport, from_dict


class Caller(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: int
    has_password: bool
    is_admin: bool
    locked: bool = False
    groups: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GroupInfo:
    name: str
    gid: int
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AclEntryInfo:
    kind: str  # "user" | "group" | "everyone"
    principal: str | None
    access: str  # "rw" | "ro" | "none"


@dataclass(frozen=True)
class ShareInfo:
    name: str
    hidden: bool
    trash_days: int | None
    homes: bool
    force_group: str | None
    create_mode: str | None  # octal text, e.g. "0664"
    dir_mode: str | None
    keep_overwritten: bool
    acl: list[AclEntryInfo] = field(default_factory=list)
    time_machine_gib: int | None = None
    guest: bool = False  # guests may read it (absent from older daemons: off)
    case_sensitive: bool = False  # SMB looks names up exactly (absent: off)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShareInfo:
        body = dict(data)
        body["acl"] = [from_dict(AclEntryInfo, e) for e in data.get("acl", [])]
        return from_dict(cls, body)


@dataclass(frozen=True)
class AuthAnswer:
    ok: bool
    locked: bool
    message: str


@dataclass(frozen=True)
class EffectiveAccess:
    share: str
    user: str
    access: str  # "rw" | "ro" | "none"
    admin_access: bool  # granted only because the user is an administrator
    why: str = ""  # the rule that decided, in one sentence (nasfs.policy.explain)


@dataclass(frozen=True)
class LogPage:
    kind: str
    rows: list[dict[str, Any]]  # LogRow.to_json() shapes
    last_id: int | None  # pass as after_id for the next page


@dataclass(frozen=True)
class VerifyResult:
    kind: str
    ok: bool
    rows: int
    first_bad_id: int | None
    problem: str | None
    gaps: list[dict[str, Any]] = field(default_factory=list)  # {"id", "detail"}: lost rows


@dataclass(frozen=True)
class ExportResult:
    path: str
    rows: int
    encoding: str


class PolicyClient:
    """Typed wrappers; see docs/control-protocol.md for each method."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.caller.call(method, params or {})

    # users and groups
    def user_list(self) -> list[UserInfo]:
        return [from_dict(UserInfo, u) for u in self.call("user.list")]

    def user_add(self, name: str, uid: int, *, password: str | None = None) -> UserInfo:
        params: dict[str, Any] = {"name": name, "uid": uid}
        if password is not None:
            params["password"] = password
        return from_dict(UserInfo, self.call("user.add", params))

    def user_del(self, name: str) -> None:
        self.call("user.del", {"name": name})

    def user_passwd(self, name: str, password: str | None) -> None:
        self.call("user.passwd", {"name": name, "password": password})

    def user_unlock(self, name: str | None = None, *, source: str | None = None) -> bool:
        return self.user_unlock_report(name, source=source).was_locked

    def user_unlock_report(self, name: str | None = None, *,
                           source: str | None = None) -> UnlockReport:
        return from_dict(UnlockReport, self.call("user.unlock", {"name": name,
                                                                 "source": source}))

    def group_list(self) -> list[GroupInfo]:
        return [from_dict(GroupInfo, g) for g in self.call("group.list")]

    def group_add(self, name: str, gid: int) -> GroupInfo:
        return from_dict(GroupInfo, self.call("group.add", {"name": name, "gid": gid}))

    def group_del(self, name: str) -> None:
        self.call("group.del", {"name": name})

    def group_adduser(self, group: str, user: str) -> None:
        self.call("group.adduser", {"group": group, "user": user})

    def group_deluser(self, group: str, user: str) -> None:
        self.call("group.deluser", {"group": group, "user": user})

    # authentication
    def auth_check(self, name: str, password: str, source: str) -> AuthAnswer:
        return from_dict(AuthAnswer, self.call(
            "auth.check", {"name": name, "password": password, "source": source}))

    # shares
    def share_list(self) -> list[ShareInfo]:
        return [ShareInfo.from_json(s) for s in self.call("share.list")]

    def share_show(self, name: str) -> ShareInfo:
        return ShareInfo.from_json(self.call("share.show", {"name": name}))

    def share_create(self, name: str, **options: Any) -> ShareInfo:
        return ShareInfo.from_json(self.call("share.create", {"name": name, **options}))

    def share_edit(self, name: str, **options: Any) -> ShareInfo:
        return ShareInfo.from_json(self.call("share.edit", {"name": name, **options}))

    def share_del(self, name: str) -> None:
        self.call("share.del", {"name": name})

    def share_acl(self, name: str, kind: str, principal: str | None, access: str) -> ShareInfo:
        return ShareInfo.from_json(self.call("share.acl", {
            "name": name, "kind": kind, "principal": principal, "access": access}))

    def share_effective(self, name: str, user: str, *, home: str | None = None) -> EffectiveAccess:
        return from_dict(EffectiveAccess, self.call(
            "share.effective", {"name": name, "user": user, "home": home}))

    # logs
    def log_query(self, kind: str = "access", *, after_id: int = 0, limit: int = 100,
                  **filters: Any) -> LogPage:
        params = {"kind": kind, "after_id": after_id, "limit": limit, **filters}
        return from_dict(LogPage, self.call("log.query", params))

    def log_verify(self, kind: str = "access") -> VerifyResult:
        return from_dict(VerifyResult, self.call("log.verify", {"kind": kind}))

    def log_export(self, path: str, kind: str = "access", *, encoding: str = "utf-8",
                   **filters: Any) -> ExportResult:
        return from_dict(ExportResult, self.call("log.export", {
            "kind": kind, "path": path, "encoding": encoding, **filters}))

    # settings
    def settings_get(self) -> dict[str, Any]:
        return dict(self.call("settings.get"))

    def settings_set(self, key: str, value: Any) -> Any:
        return self.call("settings.set", {"key": key, "value": value})[key]
