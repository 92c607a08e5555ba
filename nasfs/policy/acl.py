"""Share ACL evaluation: who gets which access to a share (pure functions, no I/O).

Rules: an applicable `none` entry wins; otherwise the highest grant among the
user's own entry, their groups' entries and the `everyone` entry applies; no applicable entry
means no access. Guests (uids that are no NAS user) match no entry. Administrators always
get read-write; when the ACL alone would have given them less, the decision says so
(`admin=True`) so the access log can mark it as an administrator access.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Access(enum.IntEnum):
    """Access levels, ordered so that max() is 'the highest grant'."""

    NONE = 0
    RO = 1
    RW = 2

    @property
    def word(self) -> str:
        return ("none", "ro", "rw")[self.value]

    @classmethod
    def parse(cls, word: str) -> Access:
        return {"none": cls.NONE, "ro": cls.RO, "rw": cls.RW}[word]


ACCESS_WORDS = ("rw", "ro", "none")
ENTRY_KINDS = ("user", "group", "everyone")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a NAS user (with their groups) or a guest."""

    uid: int
    gid: int
    name: str | None  # None for guests
    groups: frozenset[str]
    is_admin: bool
    is_guest: bool


@dataclass(frozen=True)
class AclEntry:
    kind: str  # "user" | "group" | "everyone"
    principal: str  # user or group name; "" for everyone
    access: Access


@dataclass(frozen=True)
class Decision:
    access: Access
    admin: bool  # True: granted beyond the ACL because the caller is an administrator

    @property
    def can_read(self) -> bool:
        return self.access >= Access.RO

    @property
    def can_write(self) -> bool:
        return self.access == Access.RW


def applies(entry: AclEntry, who: Principal) -> bool:
    if who.is_guest:
        return False
    if entry.kind == "everyone":
        return True
    if entry.kind == "user":
        return entry.principal == who.name
    return entry.principal in who.groups


def acl_access(entries: Iterable[AclEntry], who: Principal) -> Access:
    """What the ACL alone grants `who` (no administrator override)."""
    grants = [e.access for e in entries if applies(e, who)]
    if not grants or Access.NONE in grants:
        return Access.NONE
    return max(grants)


def evaluate(entries: Iterable[AclEntry], who: Principal) -> Decision:
    """The effective access of `who` to a share with ACL `entries`."""
    granted = acl_access(entries, who)
    if who.is_admin:
        return Decision(Access.RW, admin=granted != Access.RW)
    return Decision(granted, admin=False)


def evaluate_home(owner: str, who: Principal) -> Decision:
    """Access to `homes/<owner>`: the owner and administrators only."""
    if not who.is_guest and who.name == owner:
        return Decision(Access.RW, admin=False)
    if who.is_admin:
        return Decision(Access.RW, admin=True)
    return Decision(Access.NONE, admin=False)
