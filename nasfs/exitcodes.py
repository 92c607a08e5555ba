"""The exit codes of the `nasfs` command, one table for every subcommand.

Scripts (and systemd) tell outcomes apart by these numbers, so each one means the same
thing everywhere; docs/user-guide.md ("Exit codes") is the user-facing copy of this table.
An error class carries its code as `exit_code` (nasfs.errors); commands whose outcome is
not an error (`status` of a degraded array) return these directly.
"""

from __future__ import annotations

OK = 0  # done; `status`: the array is healthy
FAILED = 1  # the command failed; `status`: the array failed; scrub/rebuild: data unrecoverable
USAGE = 2  # bad arguments, bad configuration, a mistyped rebuild: nothing was done
NOT_REACHABLE = 3  # no daemon answers for the array or mount point named
DEGRADED = 4  # `status`: degraded; `mount` without --degraded: refused, a member is missing
BUSY = 5  # in use: `umount` with files open, `mkfs --force` on a member of an array in use
