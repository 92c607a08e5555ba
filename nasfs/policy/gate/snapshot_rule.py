"""Who may read a snapshot through the mount: the now-and-then rule.

The caller must be able to read the share now (the live decision) AND must have been able
to read it when the snapshot was taken, decided by the policy state recorded with the
snapshot (`nasfs.policy.snapshot_state.load`) for the same uid; a uid that belonged to
another user name then (or to no user) counts as having had no access. Inside `homes`,
`homes/<owner>` is for its owner (then and now) and administrators. A snapshot without
recorded state (taken offline) is judged by the live rule alone; a recorded state that
cannot be read lets only administrators in. What the caller may not read is answered like
the live tree: a share hidden now, a share that was hidden then (or was no share then), and
another user's home folder are missing names (`Verdict.missing`); otherwise EACCES.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from nasfs.policy.acl import Access, Decision, Principal
from nasfs.policy.gate.decisions import ADMIN_ONLY, NOTHING, UNRESTRICTED
from nasfs.policy.gate.judge import Judge

if TYPE_CHECKING:
    from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)

_CACHE_LIMIT = 65536
_UNREADABLE_STATE = object()  # a recorded state that cannot be parsed: fail closed


@dataclass(slots=True)
class SnapNode:
    """A kernel-known node inside a snapshot: where it was reached, for checks and logs."""

    parent: int  # kernel inode of the parent (a `#snapshot` folder or a snapshot node)
    name: bytes
    share: str
    snapshot: int
    home: str | None  # in `homes`: the owner folder it is in (or is)
    top: bool  # the snapshot's share folder itself (`#snapshot/<name>`)
    refs: int = 0  # kernel references (lookups + readdirplus entries - forgets)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a caller may do with a snapshot node."""

    decision: Decision
    missing: bool  # answer as a name that does not exist (shadowing)


_ALL = Verdict(UNRESTRICTED, False)
_ADMIN = Verdict(ADMIN_ONLY, False)
_HIDDEN = Verdict(NOTHING, True)


class SnapshotRule:
    def __init__(self, judge: Judge, recorded_state: Callable[[int], str | None]) -> None:
        self.judge = judge
        self._recorded_state = recorded_state  # snapshot id -> its policy state as JSON
        self._states: dict[int, object] = {}  # snapshot id -> PolicySnapshot | None | marker
        self._then: dict[tuple[int, int, int, str, str | None], Verdict] = {}

    def forget_snapshots(self, live: set[int]) -> None:
        """Drop what is cached about snapshots that no longer exist."""
        for sid in [s for s in self._states if s not in live]:
            del self._states[sid]

    def _state(self, snapshot_id: int) -> object:
        """The policy recorded with a snapshot: a PolicySnapshot, None (none recorded), or
        `_UNREADABLE_STATE`."""
        if snapshot_id in self._states:
            return self._states[snapshot_id]
        from nasfs.policy.snapshot_state import load

        text = self._recorded_state(snapshot_id)
        state: object = None
        if text is not None:
            try:
                state = load(text)
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
                log.error("the policy state of snapshot %d cannot be read (%s); only "
                          "administrators may open it", snapshot_id, exc)
                state = _UNREADABLE_STATE
        if len(self._states) > _CACHE_LIMIT:
            self._states.clear()
        self._states[snapshot_id] = state
        return state

    def judge_at(self, who: Principal, share_name: str, snapshot_id: int | None,
                 home: str | None) -> Verdict:
        """What `who` may do in share `share_name` at a snapshot (None: the `#snapshot`
        folder itself, judged by the live rule), inside home folder `home` if given."""
        if self.judge.policy is None:
            return _ALL
        share = self.judge.share(share_name)
        if share is None:  # a folder that is no share (any more): administrators only
            return _ADMIN if who.is_admin else _HIDDEN
        now = self.judge.decide(who, share, None)
        if not now.can_read:
            return Verdict(now, share.hidden)
        if share.homes and home is not None:
            if not who.is_admin and home != who.name:
                return _HIDDEN
            now = self.judge.decide(who, share, home)
        if snapshot_id is None:
            return Verdict(now, False)
        then = self._judge_then(who, share_name, snapshot_id, home)
        if then is None:
            return Verdict(now, False)
        if not then.decision.can_read:
            return then
        return Verdict(Decision(Access.RO, now.admin or then.decision.admin), False)

    def _judge_then(self, who: Principal, share_name: str, snapshot_id: int,
                    home: str | None) -> Verdict | None:
        """The decision of the policy recorded with the snapshot, None if it has none."""
        key = (snapshot_id, who.uid, who.gid, share_name, home)
        cached = self._then.get(key)
        if cached is not None:
            return cached
        state = self._state(snapshot_id)
        if state is None:
            return None
        verdict = _decide_then(who, state, share_name, home)
        if len(self._then) > _CACHE_LIMIT:
            self._then.clear()
        self._then[key] = verdict
        return verdict


def _decide_then(who: Principal, state: object, share_name: str, home: str | None) -> Verdict:
    if state is _UNREADABLE_STATE:
        return _ADMIN if who.is_admin else _HIDDEN
    then_policy = cast("PolicySnapshot", state)
    share = then_policy.share(share_name)
    if share is None:  # no share then: its folder was for administrators only
        return _ADMIN if who.is_admin else _HIDDEN
    then_who = then_policy.identity_for(who.uid, who.gid)
    if not who.is_admin and (then_who.name is None or then_who.name != who.name):
        # The uid was nobody's, or someone else's: that person's access is not theirs.
        return Verdict(NOTHING, share.hidden)
    decision = then_policy.decide(then_who, share, None)
    if not decision.can_read:
        return Verdict(decision, share.hidden)
    if share.homes and home is not None:
        if not who.is_admin and home != then_who.name:
            return _HIDDEN
        decision = then_policy.decide(then_who, share, home)
    return Verdict(decision, False)
