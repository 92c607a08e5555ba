"""The gate's one judge: who is asking, what they may do, and the access-log row for it.

Every namespace of the gate (live tree, `#trash` folders, `#snapshot` folders) decides with
`Judge.decide` and refuses with `raise await judge.deny(...)`, which writes the denial row
before it hands back the error to raise, or with `require`, which does both when a condition
fails. So a refusal cannot skip the log.

Rows are queued without waiting (`record_nowait`); only a full queue makes a request wait
(`await record`: back-pressure). Without a policy nothing is logged.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from nasfs.errors import NasfsError
from nasfs.fs import Caller
from nasfs.operations import ACCESS_OPERATIONS
from nasfs.policy.acl import Decision, Principal
from nasfs.policy.auditstore import LogEntry
from nasfs.policy.gate.decisions import Decisions
from nasfs.policy.gate.procnames import ProcessNames
from nasfs.policy.hooks import NO_HOOKS, ClientOf
from nasfs.policy.records import ShareRecord

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService

Where = tuple[str | None, bytes]  # (share, path inside it) as the log shows it


def errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


class Judge:
    def __init__(self, policy: PolicyService | None) -> None:
        self.policy = policy
        self.restrict = policy is not None
        self._decisions = Decisions(policy)
        self._names = ProcessNames()
        # An SMB session's client address, for the log's `client` column (a policy hook).
        self._client_of: ClientOf = (policy.hooks if policy is not None else NO_HOOKS).client_of
        # Bound once: these run on every request (the caller's principal, the share's
        # decision for them), so the judge adds no call of its own.
        self.principal: Callable[[Caller], Principal] = self._decisions.principal
        self.decide: Callable[[Principal, ShareRecord, str | None], Decision] = \
            self._decisions.decide

    # ------------------------------------------------------------------ deciding

    def share(self, name: str) -> ShareRecord | None:
        return self.policy.share(name) if self.policy is not None else None

    def share_named(self, name: bytes) -> ShareRecord | None:
        """The share a top-level name is the folder of (None: none, or no policy)."""
        if self.policy is None:
            return None
        try:
            return self.policy.share(name.decode())
        except UnicodeDecodeError:
            return None

    # ------------------------------------------------------------------- logging

    async def log(self, who: Principal, caller: Caller, operation: str, where: Where, *,
                  result: str = "OK", second: bytes | None = None, nbytes: int | None = None,
                  admin: bool = False, detail: str | None = None,
                  time_ns: int | None = None) -> None:
        # Every name a row carries is in the one list the CLI and the console filter by.
        assert operation in ACCESS_OPERATIONS, f"unlisted access-log operation {operation!r}"
        if self.policy is None:
            return
        audit = self.policy.audit
        if audit is None:  # only while the daemon starts or stops
            return
        # Stamped here with the log's own clock: the writer would otherwise copy the frozen
        # entry just to set the time (dataclasses.replace, the costliest step of recording).
        process = self._names.of(caller.pid)
        entry = LogEntry(operation, result, who.name, who.uid, caller.pid, process, where[0],
                         where[1], second, nbytes, admin, detail,
                         time_ns if time_ns is not None else self.policy.clock.now_ns(),
                         self._client_of(caller.pid, process))
        if not audit.record_nowait(entry):
            await audit.record(entry)  # back-pressure: the log's queue is full

    async def deny(self, who: Principal, caller: Caller, operation: str, where: Where,
                   error: type[NasfsError], message: str) -> NasfsError:
        """Log the refusal of `operation` at `where` and return the error to raise."""
        exc = error(message)
        await self.log(who, caller, operation, where, result=errno_name(exc.errno))
        return exc

    async def require(self, allowed: bool, who: Principal, caller: Caller, operation: str,
                      where: Where, error: type[NasfsError], message: str) -> None:
        """Nothing if `allowed`; else the logged refusal (see `deny`) is raised."""
        if not allowed:
            raise await self.deny(who, caller, operation, where, error, message)
