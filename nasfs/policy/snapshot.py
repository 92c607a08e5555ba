"""An immutable in-memory picture of accounts and shares, for the hot path.

The FUSE layer asks "who is this uid?" and "may they open this share?" on every request; it
must not query SQLite for that. The policy service builds a new `PolicySnapshot` after every
change (with a higher `version`) and swaps it in with one assignment, so readers on any
thread see either the old or the new picture, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nasfs.policy.acl import Access, Decision, Principal, evaluate, evaluate_home
from nasfs.policy.records import GroupRecord, ShareRecord, UserRecord

ADMIN_UID = 0
ADMIN_NAME = "root"


@dataclass(frozen=True)
class PolicySnapshot:
    version: int
    users: dict[str, UserRecord]
    users_by_uid: dict[int, UserRecord]
    groups: dict[str, GroupRecord]
    groups_of: dict[str, frozenset[str]]
    shares: dict[str, ShareRecord]
    _principals: dict[tuple[int, int], Principal] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, version: int, users: list[UserRecord], groups: list[GroupRecord],
              shares: list[ShareRecord]) -> PolicySnapshot:
        groups_of: dict[str, set[str]] = {}
        for g in groups:
            for member in g.members:
                groups_of.setdefault(member, set()).add(g.name)
        return cls(version, {u.name: u for u in users}, {u.uid: u for u in users},
                   {g.name: g for g in groups},
                   {name: frozenset(gs) for name, gs in groups_of.items()},
                   {s.name: s for s in shares})

    def identity_for(self, uid: int, gid: int) -> Principal:
        """The NAS identity of a caller with this uid/gid (cached per snapshot).

        Groups come from the memberships recorded here, not from the caller's gid: the
        kernel reports only the primary gid, and NAS membership is administered here.
        """
        key = (uid, gid)
        cached = self._principals.get(key)
        if cached is not None:
            return cached
        user = self.users_by_uid.get(uid)
        if uid == ADMIN_UID:
            name = user.name if user else ADMIN_NAME
            principal = Principal(uid, gid, name, self.groups_of.get(name, frozenset()),
                                  is_admin=True, is_guest=False)
        elif user is None:
            principal = Principal(uid, gid, None, frozenset(), is_admin=False, is_guest=True)
        else:
            principal = Principal(uid, gid, user.name,
                                  self.groups_of.get(user.name, frozenset()),
                                  is_admin=False, is_guest=False)
        # A benign race: two threads may both compute and store the same value.
        self._principals[key] = principal
        return principal

    def principal_named(self, name: str) -> Principal | None:
        user = self.users.get(name)
        if user is None:
            return None
        return self.identity_for(user.uid, user.uid)

    def share(self, name: str) -> ShareRecord | None:
        return self.shares.get(name)

    def decide(self, who: Principal, share: ShareRecord, home_owner: str | None = None) -> Decision:
        """Effective access of `who` to `share`, or to `share/<home_owner>` of a homes
        share."""
        if share.homes and home_owner is not None:
            return evaluate_home(home_owner, who)
        if who.is_guest and share.guest and not share.homes:
            return Decision(Access.RO, admin=False)  # guests read a guest share, no more
        return evaluate(share.acl, who)
