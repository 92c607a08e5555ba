"""What the policy layer asks of the services above it, handed in by whoever opens it.

Two things the policy layer needs cannot be known below it: Samba keeps its own password
hashes, so a password change must also reach Samba's passdb; and an access-log row made for
an smbd process names the network client it serves, which only the SMB export can tell.
The policy layer defines the calls; the daemon and the offline CLI connect them to
`nasfs.smb` when they open the policy service (`nasfs.smb.hooks.samba_hooks`), so no import
runs upward. `NO_HOOKS` is for openers that change no password and serve no requests
(recovery, tests of the policy layer alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (settings, user name, new password or None when it is removed or the user is): called after
# the NAS side is committed, in the thread that made the change; may raise a NasfsError
# that says what did not happen (the NAS password stands).
PasswordChanged = Callable[[dict[str, Any], str, str | None], None]
# (caller pid, process name) -> the network client's address, or None: called for every
# access-log row on the trio thread, so it must not block (it reads /proc, with a cache).
ClientOf = Callable[[int | None, str | None], str | None]


def _no_password_store(settings: dict[str, Any], name: str, password: str | None) -> None:
    return None


def _no_client(pid: int | None, process: str | None) -> str | None:
    return None


@dataclass(frozen=True)
class PolicyHooks:
    """The calls out of the policy layer; fixed when the service is opened."""

    password_changed: PasswordChanged = _no_password_store
    client_of: ClientOf = _no_client


NO_HOOKS = PolicyHooks()
