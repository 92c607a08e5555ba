"""Which snapshots each SMB user finds among a share's Previous Versions.

The same rule as the mount's `#snapshot` folder, by the gate's own code
(`nasfs.policy.gate.snapshot_rule.SnapshotRule`): a snapshot is listed for a user in a share
if the user may read the share now AND could when the snapshot was taken (by the policy
recorded with it). Users whose names fold into one configuration file (`%U` is lowercased)
see only the snapshots all of them may browse, and a guest share's own section lists what a
guest may browse. Deciding here, rather than leaving it to the open, keeps the list from
telling a user at which moments there is something they could not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nasfs.policy.acl import Principal
from nasfs.policy.gate.judge import Judge
from nasfs.policy.gate.snapshot_rule import SnapshotRule
from nasfs.policy.service import PolicyService
from nasfs.policy.snapshot import PolicySnapshot
from nasfs.smb.previous import View, versions

GUEST_UID = 65534  # `guest account = nobody`: the uid every guest session runs as


@dataclass(frozen=True, slots=True)
class Moment:
    """A snapshot as Previous Versions need it."""

    id: int
    name: str
    created_ns: int
    policy_state: str | None  # the policy recorded with it (JSON), None: none recorded


class VersionViews:
    """Decides, for every share and SMB user, the Previous Versions listed (`views`)."""

    def __init__(self, policy: PolicyService) -> None:
        self._policy = policy
        self._states: dict[int, str | None] = {}
        # {(uid, gid, share, snapshot id): may browse} under the live policy of version
        # `_browse_version`: a new snapshot then costs one decision per user and share, not
        # one per user, share and snapshot (a recorded policy never changes).
        self._browse: dict[tuple[int, int, str, int], bool] = {}
        self._browse_version = -1
        # The gate's judge over the live policy, and its now-and-then rule; the rule keeps
        # what it parsed of each snapshot's recorded policy between calls.
        self._rule = SnapshotRule(Judge(policy), lambda sid: self._states.get(sid))

    def views(self, snapshot: PolicySnapshot, files: Mapping[str, list[str]],
              moments: Iterable[Moment]) -> dict[View, dict[str, str]]:
        """{(share, file key or None): {@GMT name: snapshot name}} for every share of
        `snapshot`; `files` maps each user file's key to the users it serves."""
        moments = list(moments)
        self._states = {m.id: m.policy_state for m in moments}
        self._rule.forget_snapshots(set(self._states))
        version = self._policy.snapshot.version  # what the judge decides by
        if version != self._browse_version:
            self._browse, self._browse_version = {}, version
        elif any(key[3] not in self._states for key in self._browse):
            self._browse = {k: v for k, v in self._browse.items() if k[3] in self._states}
        viewers: dict[str, list[Principal]] = {}
        for file_key, users in files.items():
            named = (snapshot.principal_named(u) for u in users)
            viewers[file_key] = [p for p in named if p is not None]
        guest = snapshot.identity_for(GUEST_UID, GUEST_UID)
        out: dict[View, dict[str, str]] = {}
        for name, share in snapshot.shares.items():
            for key, principals in viewers.items():
                out[name, key] = self._listed(name, principals, moments)
            may_guest = share.guest and not share.hidden and not share.homes
            out[name, None] = self._listed(name, [guest], moments) if may_guest else {}
        return out

    def _listed(self, share: str, principals: list[Principal],
                moments: list[Moment]) -> dict[str, str]:
        if not principals:
            return {}
        shown = [(m.name, m.created_ns) for m in moments
                 if all(self._may_browse(p, share, m.id) for p in principals)]
        return versions(shown)

    def _may_browse(self, who: Principal, share: str, snapshot_id: int) -> bool:
        key = (who.uid, who.gid, share, snapshot_id)
        known = self._browse.get(key)
        if known is None:
            verdict = self._rule.judge_at(who, share, snapshot_id, None)
            known = self._browse[key] = verdict.decision.can_read and not verdict.missing
        return known
