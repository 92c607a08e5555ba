"""The policy state recorded with a snapshot: who could read what when it was taken.

`export(policy.snapshot)` turns the policy's in-memory picture into JSON text (users without
password hashes, groups with members, shares with their ACLs); `load(text)` gives back a
`PolicySnapshot` whose `identity_for` / `share` / `decide` answer as the policy did then,
so the FUSE layer can check "could read it when the snapshot was taken".
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nasfs.policy.acl import Access, AclEntry
from nasfs.policy.records import GroupRecord, ShareRecord, UserRecord
from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)

FORMAT = 1


def export(snapshot: PolicySnapshot) -> str:
    body: dict[str, Any] = {
        "format": FORMAT,
        "version": snapshot.version,
        "users": [{"name": u.name, "uid": u.uid} for u in snapshot.users.values()],
        "groups": [g.to_json() for g in snapshot.groups.values()],
        "shares": [{
            "name": s.name, "hidden": s.hidden, "homes": s.homes, "guest": s.guest,
            "acl": [[e.kind, e.principal, e.access.word] for e in s.acl],
        } for s in snapshot.shares.values()],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def load(text: str) -> PolicySnapshot:
    """The PolicySnapshot of an exported state (only the fields access decisions use)."""
    body = json.loads(text)
    users = [UserRecord(u["name"], int(u["uid"]), None, 0) for u in body["users"]]
    groups = [GroupRecord(g["name"], int(g["gid"]), tuple(g["members"])) for g in body["groups"]]
    shares = [
        ShareRecord(s["name"], hidden=bool(s["hidden"]), homes=bool(s["homes"]),
                    guest=bool(s.get("guest", False)),  # states recorded before the option
                    acl=tuple(AclEntry(k, p, Access.parse(a)) for k, p, a in s["acl"]))
        for s in body["shares"]
    ]
    return PolicySnapshot.build(int(body["version"]), users, groups, shares)
