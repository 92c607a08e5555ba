"""Plain records of the policy database, as the repository returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nasfs.policy.acl import AclEntry


@dataclass(frozen=True)
class UserRecord:
    name: str
    uid: int
    pw_hash: str | None
    created_ns: int

    def to_json(self, *, groups: list[str] | None = None, locked: bool = False) -> dict[str, Any]:
        # Never the hash: it leaves the policy layer only to be verified.
        body: dict[str, Any] = {"name": self.name, "uid": self.uid,
                                "has_password": self.pw_hash is not None,
                                "is_admin": self.uid == 0, "locked": locked}
        if groups is not None:
            body["groups"] = groups
        return body


@dataclass(frozen=True)
class GroupRecord:
    name: str
    gid: int
    members: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "gid": self.gid, "members": list(self.members)}


@dataclass(frozen=True)
class ShareRecord:
    name: str
    hidden: bool = False
    trash_days: int | None = 30
    homes: bool = False
    force_group: str | None = None
    create_mode: int | None = None
    dir_mode: int | None = None
    keep_overwritten: bool = True
    created_ns: int = 0
    time_machine_gib: int | None = None  # a Time Machine target over SMB, of this size
    guest: bool = False  # guests (callers who are no NAS user) may read it
    case_sensitive: bool = False  # SMB looks names up exactly (no case-insensitive scan)
    acl: tuple[AclEntry, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "hidden": self.hidden, "trash_days": self.trash_days,
            "homes": self.homes, "force_group": self.force_group,
            "create_mode": _octal(self.create_mode), "dir_mode": _octal(self.dir_mode),
            "keep_overwritten": self.keep_overwritten,
            "time_machine_gib": self.time_machine_gib, "guest": self.guest,
            "case_sensitive": self.case_sensitive,
            "acl": [{"kind": e.kind, "principal": e.principal or None, "access": e.access.word}
                    for e in self.acl],
        }


def _octal(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"


@dataclass(frozen=True)
class LockRecord:
    kind: str  # "user" | "source"
    subject: str
    since_ns: int
    until_ns: int | None  # None: until an administrator unlocks it
    names: tuple[str, ...] = ()  # a source lock: the login names its failures were for
