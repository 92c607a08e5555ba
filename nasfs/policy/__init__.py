"""The policy layer: who is asking, what they may do, and the record of what they did.

Accounts, groups, lock-out, shares and their ACLs, settings, and the tamper-evident access
and system logs, kept in `policy.db` and `audit.db` on every member. `PolicyService` owns
them; docs/policy.md describes the semantics and the seam the FUSE layer uses.
"""

from nasfs.clock import Clock, ManualClock, SystemClock
from nasfs.policy.acl import Access, AclEntry, Decision, Principal
from nasfs.policy.admin import Actor, AdminApi
from nasfs.policy.auditlog import AuditLog
from nasfs.policy.auditstore import LogEntry, LogFilter, LogRow
from nasfs.policy.records import GroupRecord, ShareRecord, UserRecord
from nasfs.policy.service import PolicyService, db_dirs

__all__ = [
    "Access", "AclEntry", "Actor", "AdminApi", "AuditLog", "Clock", "Decision", "GroupRecord",
    "LogEntry", "LogFilter", "LogRow", "ManualClock", "PolicyService", "Principal",
    "ShareRecord", "SystemClock", "UserRecord", "db_dirs",
]
