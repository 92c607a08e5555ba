"""Users and groups: adding, removing, passwords, memberships, with validation.

Every change is committed durably and then published as a new snapshot (so the FUSE layer
sees it on its next request). Password hashing happens before the policy lock is taken.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nasfs.policy import osaccounts
from nasfs.policy.errors import AlreadyExists, InvalidName, NotFound, PolicyError
from nasfs.policy.names import check_account_name, check_id
from nasfs.policy.passwords import hash_password
from nasfs.policy.records import GroupRecord, UserRecord
from nasfs.policy.snapshot import ADMIN_NAME, ADMIN_UID
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.policy.core import AccountsCore

log = logging.getLogger(__name__)


class GroupInUse(PolicyError):
    """A group cannot be removed while a share forces it on new files."""

    wire_code = codes.GROUP_IN_USE


class Accounts:
    def __init__(self, service: AccountsCore) -> None:
        self.service = service
        self.repo = service.repo

    # -- users -----------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        with self.service.policy_lock:
            return self.repo.users()

    def user(self, name: str) -> UserRecord:
        with self.service.policy_lock:
            user = self.repo.user(name)
        if user is None:
            raise NotFound(f"there is no user {name!r}")
        return user

    def add_user(self, name: str, uid: int, password: str | None = None) -> UserRecord:
        check_account_name(name, "user")
        check_id(uid, "uid")
        if name == ADMIN_NAME and uid != ADMIN_UID:
            raise InvalidName(f"the name {ADMIN_NAME!r} is reserved for the administrator "
                              f"(uid {ADMIN_UID})")
        if uid == ADMIN_UID and name != ADMIN_NAME:
            raise InvalidName(f"uid {ADMIN_UID} is the administrator and must be called "
                              f"{ADMIN_NAME!r}")
        pw_hash = hash_password(password) if password is not None else None
        with self.service.policy_lock:
            if self.repo.user(name) is not None:
                raise AlreadyExists(f"user {name!r} exists already")
            # SMB and Windows take user names case-insensitively (Samba's passdb, and the
            # per-user configuration file chosen by the lowercased session name): two such
            # names would share one login and one file of hidden shares.
            folded = [u.name for u in self.repo.users() if u.name.lower() == name.lower()]
            if folded:
                raise AlreadyExists(f"user {folded[0]!r} exists already, and user names that "
                                    "differ only in case are one name over SMB")
            clash = self.repo.user_by_uid(uid)
            if clash is not None:
                raise AlreadyExists(f"uid {uid} belongs to user {clash.name!r} already")
            # The administrator (uid 0) is the system's root and is never published, so it
            # clashes with nothing, as when the setting is switched on (admin.py).
            if self.service.os_accounts() and uid != ADMIN_UID:
                osaccounts.check_user(name, uid)
            with self.repo.db.transaction(durable=True):
                self.repo.add_user(name, uid, pw_hash, self.service.clock.now_ns())
            self.service.reload()
            user = self.repo.user(name)
            if password is not None:
                self._samba_password(name, password)
        assert user is not None
        return user

    def delete_user(self, name: str) -> None:
        with self.service.policy_lock:
            self.user(name)
            with self.repo.db.transaction(durable=True):
                self.repo.delete_user(name)
                self.repo.remove_lock("user", name)
                self.repo.clear_failures("user", name)
            self.service.reload()
            self._samba_password(name, None)

    def set_password(self, name: str, password: str | None) -> None:
        """Set (or with None, remove) the password of `name`."""
        self.user(name)
        pw_hash = hash_password(password) if password is not None else None
        with self.service.policy_lock:
            self.user(name)  # still there after hashing
            with self.repo.db.transaction(durable=True):
                self.repo.set_password(name, pw_hash)
            self.service.reload()
            self._samba_password(name, password)

    def _samba_password(self, name: str, password: str | None) -> None:
        """Samba keeps its own password hashes: hand it the same password (from memory,
        never a file), or take the user out when the password is removed or the user is
        (through the hook the opener connected: nasfs.policy.hooks)."""
        self.service.hooks.password_changed(self.service.settings(), name, password)

    def groups_of(self, name: str) -> list[str]:
        with self.service.policy_lock:
            return self.repo.groups_of(name)

    # -- groups ----------------------------------------------------------------------------

    def groups(self) -> list[GroupRecord]:
        with self.service.policy_lock:
            return self.repo.groups()

    def group(self, name: str) -> GroupRecord:
        with self.service.policy_lock:
            group = self.repo.group(name)
        if group is None:
            raise NotFound(f"there is no group {name!r}")
        return group

    def add_group(self, name: str, gid: int) -> GroupRecord:
        check_account_name(name, "group")
        check_id(gid, "gid")
        with self.service.policy_lock:
            if self.repo.group(name) is not None:
                raise AlreadyExists(f"group {name!r} exists already")
            clash = self.repo.group_by_gid(gid)
            if clash is not None:
                raise AlreadyExists(f"gid {gid} belongs to group {clash.name!r} already")
            if self.service.os_accounts():
                osaccounts.check_group(name, gid)
            with self.repo.db.transaction(durable=True):
                self.repo.add_group(name, gid, self.service.clock.now_ns())
            self.service.reload()
            return self.group(name)

    def delete_group(self, name: str) -> None:
        with self.service.policy_lock:
            self.group(name)
            users = self.repo.shares_using_group(name)
            if users:
                raise GroupInUse(f"group {name!r} is the forced group of share "
                                 f"{users[0]!r}; change that share first")
            with self.repo.db.transaction(durable=True):
                self.repo.delete_group(name)
            self.service.reload()

    def add_member(self, group: str, user: str) -> bool:
        """Add `user` to `group`; False if they were a member already."""
        with self.service.policy_lock:
            self.group(group)
            self.user(user)
            with self.repo.db.transaction(durable=True):
                added = self.repo.add_member(group, user)
            self.service.reload()
            return added

    def remove_member(self, group: str, user: str) -> None:
        with self.service.policy_lock:
            self.group(group)
            self.user(user)
            with self.repo.db.transaction(durable=True):
                removed = self.repo.remove_member(group, user)
            if not removed:
                raise NotFound(f"user {user!r} is not a member of group {group!r}")
            self.service.reload()
