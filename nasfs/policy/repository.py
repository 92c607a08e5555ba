"""Typed access to `policy.db`: the only module that writes SQL for accounts, shares, ACLs,
settings and lock-out state. Callers hold the policy lock (nasfs.policy.service) and commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from nasfs.db import ReplicatedDB
from nasfs.policy.acl import Access, AclEntry
from nasfs.policy.records import GroupRecord, LockRecord, ShareRecord, UserRecord

log = logging.getLogger(__name__)

_SHARE_COLUMNS = ("name", "hidden", "trash_days", "homes", "force_group", "create_mode",
                  "dir_mode", "keep_overwritten", "created_ns", "time_machine_gib", "guest",
                  "case_sensitive")


class PolicyRepository:
    """Reads and writes of policy.db (no validation here; the services validate)."""

    def __init__(self, db: ReplicatedDB) -> None:
        self.db = db

    # -- users ---------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        return [UserRecord(r["name"], r["uid"], r["pw_hash"], r["created_ns"])
                for r in self.db.query("SELECT * FROM user ORDER BY uid, name")]

    def user(self, name: str) -> UserRecord | None:
        r = self.db.query_one("SELECT * FROM user WHERE name = ?", (name,))
        return UserRecord(r["name"], r["uid"], r["pw_hash"], r["created_ns"]) if r else None

    def user_by_uid(self, uid: int) -> UserRecord | None:
        r = self.db.query_one("SELECT * FROM user WHERE uid = ?", (uid,))
        return UserRecord(r["name"], r["uid"], r["pw_hash"], r["created_ns"]) if r else None

    def add_user(self, name: str, uid: int, pw_hash: str | None, now_ns: int) -> None:
        self.db.execute("INSERT INTO user (name, uid, pw_hash, created_ns) VALUES (?, ?, ?, ?)",
                        (name, uid, pw_hash, now_ns))

    def set_password(self, name: str, pw_hash: str | None) -> None:
        self.db.execute("UPDATE user SET pw_hash = ? WHERE name = ?", (pw_hash, name))

    def delete_user(self, name: str) -> None:
        self.db.execute("DELETE FROM share_acl WHERE kind = 'user' AND principal = ?", (name,))
        self.db.execute("DELETE FROM user WHERE name = ?", (name,))

    def groups_of(self, user: str) -> list[str]:
        return [r[0] for r in self.db.query(
            "SELECT group_name FROM membership WHERE user_name = ? ORDER BY group_name",
            (user,))]

    # -- groups --------------------------------------------------------------------------

    def groups(self) -> list[GroupRecord]:
        members: dict[str, list[str]] = {}
        for r in self.db.query("SELECT group_name, user_name FROM membership "
                               "ORDER BY group_name, user_name"):
            members.setdefault(r[0], []).append(r[1])
        return [GroupRecord(r["name"], r["gid"], tuple(members.get(r["name"], [])))
                for r in self.db.query('SELECT * FROM "group" ORDER BY gid, name')]

    def group(self, name: str) -> GroupRecord | None:
        r = self.db.query_one('SELECT * FROM "group" WHERE name = ?', (name,))
        if r is None:
            return None
        members = [m[0] for m in self.db.query(
            "SELECT user_name FROM membership WHERE group_name = ? ORDER BY user_name", (name,))]
        return GroupRecord(r["name"], r["gid"], tuple(members))

    def group_by_gid(self, gid: int) -> GroupRecord | None:
        r = self.db.query_one('SELECT name FROM "group" WHERE gid = ?', (gid,))
        return self.group(r[0]) if r else None

    def add_group(self, name: str, gid: int, now_ns: int) -> None:
        self.db.execute('INSERT INTO "group" (name, gid, created_ns) VALUES (?, ?, ?)',
                        (name, gid, now_ns))

    def delete_group(self, name: str) -> None:
        self.db.execute("DELETE FROM share_acl WHERE kind = 'group' AND principal = ?", (name,))
        self.db.execute('DELETE FROM "group" WHERE name = ?', (name,))

    def add_member(self, group: str, user: str) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO membership (group_name, user_name) "
                              "VALUES (?, ?)", (group, user))
        return cur.rowcount > 0

    def remove_member(self, group: str, user: str) -> bool:
        cur = self.db.execute("DELETE FROM membership WHERE group_name = ? AND user_name = ?",
                              (group, user))
        return cur.rowcount > 0

    # -- shares --------------------------------------------------------------------------

    def shares(self) -> list[ShareRecord]:
        acls: dict[str, list[AclEntry]] = {}
        for r in self.db.query("SELECT * FROM share_acl ORDER BY share, kind, principal"):
            acls.setdefault(r["share"], []).append(
                AclEntry(r["kind"], r["principal"], Access.parse(r["access"])))
        return [self._share(r, acls.get(r["name"], []))
                for r in self.db.query("SELECT * FROM share ORDER BY name")]

    def share(self, name: str) -> ShareRecord | None:
        r = self.db.query_one("SELECT * FROM share WHERE name = ?", (name,))
        if r is None:
            return None
        acl = [AclEntry(e["kind"], e["principal"], Access.parse(e["access"])) for e in
               self.db.query("SELECT * FROM share_acl WHERE share = ? ORDER BY kind, principal",
                             (name,))]
        return self._share(r, acl)

    @staticmethod
    def _share(r: Any, acl: Sequence[AclEntry]) -> ShareRecord:
        return ShareRecord(
            name=r["name"], hidden=bool(r["hidden"]), trash_days=r["trash_days"],
            homes=bool(r["homes"]), force_group=r["force_group"], create_mode=r["create_mode"],
            dir_mode=r["dir_mode"], keep_overwritten=bool(r["keep_overwritten"]),
            created_ns=r["created_ns"], time_machine_gib=r["time_machine_gib"],
            guest=bool(r["guest"]), case_sensitive=bool(r["case_sensitive"]),
            acl=tuple(acl))

    def put_share(self, share: ShareRecord, *, new: bool) -> None:
        values = (share.name, int(share.hidden), share.trash_days, int(share.homes),
                  share.force_group, share.create_mode, share.dir_mode,
                  int(share.keep_overwritten), share.created_ns, share.time_machine_gib,
                  int(share.guest), int(share.case_sensitive))
        if new:
            self.db.execute(f"INSERT INTO share ({', '.join(_SHARE_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(_SHARE_COLUMNS))})", values)
        else:
            sets = ", ".join(f"{c} = ?" for c in _SHARE_COLUMNS[1:])
            self.db.execute(f"UPDATE share SET {sets} WHERE name = ?", (*values[1:], share.name))

    def delete_share(self, name: str) -> None:
        self.db.execute("DELETE FROM share WHERE name = ?", (name,))

    def set_acl_entry(self, share: str, kind: str, principal: str, access: Access | None) -> None:
        if access is None:
            self.db.execute("DELETE FROM share_acl WHERE share = ? AND kind = ? AND principal = ?",
                            (share, kind, principal))
        else:
            self.db.execute("INSERT INTO share_acl (share, kind, principal, access) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (share, kind, principal) "
                            "DO UPDATE SET access = excluded.access",
                            (share, kind, principal, access.word))

    def shares_using_group(self, group: str) -> list[str]:
        return [r[0] for r in self.db.query("SELECT name FROM share WHERE force_group = ?",
                                            (group,))]

    # -- settings ------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.query("SELECT * FROM setting")}

    def set_setting(self, key: str, value: Any) -> None:
        self.db.execute("INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    # -- lock-out ------------------------------------------------------------------------

    def add_failure(self, kind: str, subject: str, now_ns: int,
                    name: str | None = None) -> None:
        self.db.execute("INSERT INTO auth_failure (kind, subject, time_ns, name) "
                        "VALUES (?, ?, ?, ?)", (kind, subject, now_ns, name))

    def failure_names(self, kind: str, subject: str, since_ns: int) -> tuple[str, ...]:
        rows = self.db.query("SELECT DISTINCT name FROM auth_failure WHERE kind = ? AND "
                             "subject = ? AND time_ns > ? AND name IS NOT NULL ORDER BY name",
                             (kind, subject, since_ns))
        return tuple(str(r["name"]) for r in rows)

    def count_failures(self, kind: str, subject: str, since_ns: int) -> int:
        row = self.db.query_one("SELECT count(*) FROM auth_failure WHERE kind = ? AND "
                                "subject = ? AND time_ns > ?", (kind, subject, since_ns))
        return int(row[0]) if row else 0

    def clear_failures(self, kind: str, subject: str) -> None:
        self.db.execute("DELETE FROM auth_failure WHERE kind = ? AND subject = ?",
                        (kind, subject))

    def prune_failures(self, before_ns: int) -> None:
        self.db.execute("DELETE FROM auth_failure WHERE time_ns <= ?", (before_ns,))

    def lock(self, kind: str, subject: str) -> LockRecord | None:
        r = self.db.query_one("SELECT * FROM auth_lock WHERE kind = ? AND subject = ?",
                              (kind, subject))
        return _lock_record(r) if r else None

    def locks(self) -> list[LockRecord]:
        return [_lock_record(r)
                for r in self.db.query("SELECT * FROM auth_lock ORDER BY kind, subject")]

    def set_lock(self, kind: str, subject: str, since_ns: int, until_ns: int | None,
                 names: tuple[str, ...] = ()) -> None:
        self.db.execute("INSERT INTO auth_lock (kind, subject, since_ns, until_ns, names) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, subject) DO UPDATE SET "
                        "since_ns = excluded.since_ns, until_ns = excluded.until_ns, "
                        "names = excluded.names",
                        (kind, subject, since_ns, until_ns, json.dumps(list(names))))

    def remove_lock(self, kind: str, subject: str) -> bool:
        cur = self.db.execute("DELETE FROM auth_lock WHERE kind = ? AND subject = ?",
                              (kind, subject))
        return cur.rowcount > 0


def _lock_record(r: Any) -> LockRecord:
    names = tuple(json.loads(r["names"])) if r["names"] else ()
    return LockRecord(r["kind"], r["subject"], r["since_ns"], r["until_ns"], names)
