"""Who is asking and what they may do in a share: the policy's answers, cached per
(policy version, uid, gid, share, home folder) so that the gate asks the policy once per
caller and place, not once per request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasfs.fs import Caller
from nasfs.policy.acl import Access, Decision, Principal
from nasfs.policy.records import ShareRecord

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService

UNRESTRICTED = Decision(Access.RW, admin=False)  # no policy: everyone may do everything
NOTHING = Decision(Access.NONE, admin=False)
ADMIN_ONLY = Decision(Access.RW, admin=True)  # what an administrator gets where no ACL applies


class Decisions:
    def __init__(self, policy: PolicyService | None) -> None:
        self.policy = policy
        self._cache: dict[tuple[int, int, str, str | None], Decision] = {}
        self._version = -1

    def principal(self, caller: Caller) -> Principal:
        """The NAS principal of a kernel caller (without a policy: an administrator)."""
        if self.policy is None:
            return Principal(caller.uid, caller.gid, None, frozenset(), True, False)
        return self.policy.identity_for(caller.uid, caller.gid)

    def decide(self, who: Principal, share: ShareRecord, home: str | None) -> Decision:
        assert self.policy is not None
        version = self.policy.version
        if version != self._version:
            self._cache.clear()
            self._version = version
        key = (who.uid, who.gid, share.name, home)
        d = self._cache.get(key)
        if d is None:
            d = self._cache[key] = self.policy.decide(who, share, home)
        return d
