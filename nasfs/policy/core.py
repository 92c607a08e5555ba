"""What the policy service's parts are handed: protocols of the service that holds them.

Accounts, lock-out and shares (and the admin API, nasfs.policy.admin.AdminCore) are built
by `PolicyService` and work on its database, lock, clock and snapshot. Each receives the
protocol of what it uses, not the service, which imports them: a part has no
back-reference to its whole. `PolicyService` satisfies every one (mypy checks it where the
service hands itself to its parts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from nasfs.clock import Clock
from nasfs.policy.auditstore import LogEntry
from nasfs.policy.hooks import PolicyHooks
from nasfs.policy.records import ShareRecord
from nasfs.policy.repository import PolicyRepository
from nasfs.policy.snapshot import PolicySnapshot

ShareCallback = Callable[[ShareRecord], None]


class PolicyCore(Protocol):
    """The policy database and its lock, the clock, the settings, and `reload` (publish a
    new snapshot after a committed change): what every part uses."""

    clock: Clock
    repo: PolicyRepository
    policy_lock: threading.RLock

    def settings(self) -> dict[str, Any]: ...

    def reload(self) -> None: ...


class AccountsCore(PolicyCore, Protocol):
    """For users and groups: the calls out to Samba, and whether accounts are published to
    the operating system."""

    hooks: PolicyHooks

    def os_accounts(self) -> bool: ...


class LockOutCore(PolicyCore, Protocol):
    """For the lock-out: the system log, where lock-outs are recorded."""

    def log_system(self, entries: Sequence[LogEntry]) -> None: ...


class SharesCore(PolicyCore, Protocol):
    """For shares: the published snapshot and who to tell when a share comes or goes."""

    on_share_created: list[ShareCallback]
    on_share_deleted: list[ShareCallback]

    @property
    def snapshot(self) -> PolicySnapshot: ...
