"""Shares and their ACLs: create, edit, delete, set entries, effective access.

Recording a share is all this module does; making its directory in the mounted filesystem
is the FUSE integration's job, which it does from the `on_share_created` callbacks of the
policy service.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from nasfs.policy.acl import ACCESS_WORDS, ENTRY_KINDS, Access, Decision
from nasfs.policy.errors import AlreadyExists, InvalidValue, NotFound
from nasfs.policy.names import check_share_name
from nasfs.policy.records import ShareRecord

if TYPE_CHECKING:
    from nasfs.policy.core import SharesCore

log = logging.getLogger(__name__)

MAX_TRASH_DAYS = 36_500
# The share options `create`/`edit` accept, with the type each must have.
OPTIONS: dict[str, tuple[type, ...]] = {
    "hidden": (bool,), "trash_days": (int, type(None)), "homes": (bool,),
    "force_group": (str, type(None)), "create_mode": (str, int, type(None)),
    "dir_mode": (str, int, type(None)), "keep_overwritten": (bool,),
    "time_machine_gib": (int, type(None)), "guest": (bool,),
    "case_sensitive": (bool,),
}
MAX_TIME_MACHINE_GIB = 1 << 20  # 1 PiB: beyond any array's size


def parse_mode(value: str | int | None, what: str) -> int | None:
    """A permission mode given as an octal string ('2775') or an int; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise InvalidValue(f"{what} {value!r} is not an octal mode such as 0664") from None
    if not 0 <= value <= 0o7777:
        raise InvalidValue(f"{what} {value:o} is not a permission mode (0000 to 7777)")
    return value


class Shares:
    def __init__(self, service: SharesCore) -> None:
        self.service = service
        self.repo = service.repo

    def list(self) -> list[ShareRecord]:
        with self.service.policy_lock:
            return self.repo.shares()

    def get(self, name: str) -> ShareRecord:
        with self.service.policy_lock:
            share = self.repo.share(name)
        if share is None:
            raise NotFound(f"there is no share {name!r}")
        return share

    def _apply(self, share: ShareRecord, options: dict[str, Any]) -> ShareRecord:
        changes: dict[str, Any] = {}
        for key, value in options.items():
            kinds = OPTIONS.get(key)
            if kinds is None:
                raise InvalidValue(f"shares have no option {key!r} (they have: "
                                   f"{', '.join(OPTIONS)})")
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise InvalidValue(f"share option {key} has the wrong type: {value!r}")
            changes[key] = value
        for key in ("create_mode", "dir_mode"):
            if key in changes:
                changes[key] = parse_mode(changes[key], key.replace("_", " "))
        days = changes.get("trash_days", share.trash_days)
        if days is not None and not 1 <= days <= MAX_TRASH_DAYS:
            raise InvalidValue(f"trash days must be between 1 and {MAX_TRASH_DAYS}, not {days}")
        tm = changes.get("time_machine_gib")
        if tm is not None and not 1 <= tm <= MAX_TIME_MACHINE_GIB:
            raise InvalidValue(f"a Time Machine size limit is 1 to {MAX_TIME_MACHINE_GIB} GiB, "
                               f"not {tm}")
        group = changes.get("force_group")
        if group is not None and self.repo.group(group) is None:
            raise NotFound(f"there is no group {group!r} to force on share {share.name!r}")
        updated = dataclasses.replace(share, **changes)
        if updated.guest and (updated.hidden or updated.homes):
            # A guest is anyone: a hidden share open to guests would be hidden from no one,
            # and home folders belong to their owners.
            raise InvalidValue(f"share {share.name!r} cannot allow guests: "
                               f"{'it is hidden' if updated.hidden else 'it is the homes share'}")
        if updated.homes and not share.homes:
            other = next((s.name for s in self.repo.shares()
                          if s.homes and s.name != share.name), None)
            if other is not None:
                raise AlreadyExists(f"share {other!r} is the homes share already; there can "
                                    "be only one")
        return updated

    def create(self, name: str, options: dict[str, Any]) -> ShareRecord:
        check_share_name(name)
        with self.service.policy_lock:
            if self.repo.share(name) is not None:
                raise AlreadyExists(f"share {name!r} exists already")
            default_days = int(self.service.settings()["trash.default_days"])
            share = self._apply(ShareRecord(name, trash_days=default_days,
                                            created_ns=self.service.clock.now_ns()), options)
            with self.repo.db.transaction(durable=True):
                self.repo.put_share(share, new=True)
            self.service.reload()
            share = self.get(name)
        for callback in list(self.service.on_share_created):
            try:
                callback(share)
            except Exception:
                log.exception("a share-created hook failed for %s", name)
        return share

    def edit(self, name: str, options: dict[str, Any]) -> ShareRecord:
        with self.service.policy_lock:
            share = self._apply(self.get(name), options)
            with self.repo.db.transaction(durable=True):
                self.repo.put_share(share, new=False)
            self.service.reload()
            return self.get(name)

    def delete(self, name: str) -> ShareRecord:
        """Forget share `name` (its folder and files stay; only the policy goes)."""
        with self.service.policy_lock:
            share = self.get(name)
            with self.repo.db.transaction(durable=True):
                self.repo.delete_share(name)
            self.service.reload()
        for callback in list(self.service.on_share_deleted):
            try:
                callback(share)
            except Exception:
                log.exception("a share-deleted hook failed for %s", name)
        return share

    def set_acl(self, name: str, kind: str, principal: str | None, access: str) -> ShareRecord:
        """Set (or with access 'remove', delete) the entry of `kind`/`principal`."""
        if kind not in ENTRY_KINDS:
            raise InvalidValue(f"an ACL entry is for a user, a group or everyone, not {kind!r}")
        if access not in (*ACCESS_WORDS, "remove"):
            raise InvalidValue(f"access must be rw, ro, none or remove, not {access!r}")
        if kind == "everyone":
            if principal:
                raise InvalidValue("an 'everyone' entry names no user or group")
            principal = ""
        elif not principal:
            raise InvalidValue(f"a {kind} entry needs the {kind}'s name")
        with self.service.policy_lock:
            self.get(name)
            if kind == "user" and self.repo.user(principal) is None:
                raise NotFound(f"there is no user {principal!r}")
            if kind == "group" and self.repo.group(principal) is None:
                raise NotFound(f"there is no group {principal!r}")
            with self.repo.db.transaction(durable=True):
                self.repo.set_acl_entry(name, kind, principal,
                                        None if access == "remove" else Access.parse(access))
            self.service.reload()
            return self.get(name)

    def effective(self, name: str, user: str, home_owner: str | None = None) -> Decision:
        """What `user` may do in share `name` (in `homes/<home_owner>` for the homes share)."""
        return self.effective_and_why(name, user, home_owner)[0]

    def effective_and_why(self, name: str, user: str,
                          home_owner: str | None = None) -> tuple[Decision, str]:
        """The decision and the sentence that explains it (nasfs.policy.explain)."""
        from nasfs.policy.explain import explain, explain_home

        snapshot = self.service.snapshot
        share = snapshot.share(name)
        if share is None:
            raise NotFound(f"there is no share {name!r}")
        who = snapshot.principal_named(user)
        if who is None:
            if user == "root":
                who = snapshot.identity_for(0, 0)
            else:
                raise NotFound(f"there is no user {user!r}")
        why = (explain_home(home_owner, who) if share.homes and home_owner is not None
               else explain(share.acl, who, guest_share=share.guest))
        return snapshot.decide(who, share, home_owner), why
