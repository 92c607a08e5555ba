"""nasfs.recovery: the maintenance shell for the bad day (`nasfs recovery`, docs/recovery.md).

It works with the filesystem unmounted and the array degraded or damaged. Everything that
only looks (status, check, salvage) reads member labels, metadata copies and segment files
directly and read-only, so it needs neither a mountable array nor a healthy metadata copy;
commands that change things (scrub, rebuild, repairs, restore, unlock) go through the same
layers the daemon uses, under the array's exclusive lock.
"""

from nasfs.recovery.session import RecoverySession
from nasfs.recovery.shell import RecoveryShell, run_commands

__all__ = ["RecoverySession", "RecoveryShell", "run_commands"]
