"""Typed calls for the SMB side (`smb.status`, and the settings and share options SMB uses):
what the console's Sharing screen and `nasfs smb` show and change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nasfs.client.policy import ShareInfo
from nasfs.wire.types import from_dict


class Caller(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class SmbSession:
    """One connected SMB session (from `smbstatus --json`, through the daemon)."""

    user: str | None
    client: str | None  # the client's address
    protocol: str | None  # the dialect, e.g. SMB3_11
    encryption: str | None = None  # the cipher, None when not encrypted
    signing: str | None = None
    pid: int = 0  # the smbd process serving it
    open_files: int = 0


@dataclass(frozen=True)
class SmbStatus:
    enabled: bool
    running: bool
    pid: int | None
    port: int
    interfaces: list[str]
    state_dir: str
    problem: str | None  # why smbd is not running although SMB is on
    sessions: list[SmbSession] = field(default_factory=list)
    users_without_samba_password: list[str] = field(default_factory=list)
    locked_users: list[str] = field(default_factory=list)
    denied_addresses: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SmbStatus:
        body = dict(data)
        body["sessions"] = [from_dict(SmbSession, s) for s in data.get("sessions") or []]
        return from_dict(cls, body)

    @property
    def summary(self) -> str:
        """One sentence: on or off, and where smbd listens or why it does not run."""
        if not self.enabled:
            return "SMB is off."
        if self.running:
            where = ", ".join(self.interfaces) or "all interfaces"
            return f"SMB is on: smbd (pid {self.pid}) listens on port {self.port} ({where})."
        return f"SMB is on but smbd is not running: {self.problem or 'not started'}."


def smb_options(share: ShareInfo) -> dict[str, Any]:
    """A share's SMB options, as `nasfs smb share --json` shows them."""
    return {"name": share.name, "hidden": share.hidden, "guest": share.guest,
            "time_machine_gib": share.time_machine_gib, "case_sensitive": share.case_sensitive}


class SmbClient:
    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def status(self) -> SmbStatus:
        return SmbStatus.from_json(self.caller.call("smb.status", {}))

    def sessions(self) -> list[SmbSession]:
        return [from_dict(SmbSession, s) for s in self.caller.call("smb.sessions", {})["sessions"]]

    def shares(self) -> list[ShareInfo]:
        return [ShareInfo.from_json(s) for s in self.caller.call("share.list", {})]

    def set_enabled(self, on: bool) -> None:
        """Switch SMB on or off (the setting `smb.enabled`; the daemon starts or stops smbd)."""
        self.caller.call("settings.set", {"key": "smb.enabled", "value": on})

    def set_share_options(self, share: str, *, guest: bool, time_machine_gib: int | None,
                          case_sensitive: bool) -> ShareInfo:
        """Set a share's SMB options: guests may read it or not; a Time Machine target of
        `time_machine_gib` GiB, or none; names looked up exactly or in any case."""
        return ShareInfo.from_json(self.caller.call("share.edit", {
            "name": share, "guest": guest, "time_machine_gib": time_machine_gib,
            "case_sensitive": case_sensitive}))
