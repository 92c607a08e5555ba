"""Samba's authentication audit, read from smbd's log: one event per SMB login attempt.

With `log level = 1 auth_json_audit:3` smbd writes, for every authentication, a header
line and then one line of JSON (`{"type": "Authentication", "Authentication": {...}}`)
with the account the client named, its address (`ipv4:10.0.0.7:50123`) and the NT status
(`NT_STATUS_OK`, `NT_STATUS_WRONG_PASSWORD`, `NT_STATUS_NO_SUCH_USER`, ...). `AuditTail`
follows the log from where it was when created (events before that are not replayed) and
across smbd's rotation (`log.smbd` → `log.smbd.old` past `max log size`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

# What a wrong guess looks like. Anything else (a disabled account, an internal error) is
# not a password guess and counts neither way.
FAILED = frozenset({"NT_STATUS_WRONG_PASSWORD", "NT_STATUS_NO_SUCH_USER",
                    "NT_STATUS_LOGON_FAILURE"})
OK = "NT_STATUS_OK"
NO_SUCH_USER = "NT_STATUS_NO_SUCH_USER"  # with guests allowed: a guest session, not a failure


@dataclass(frozen=True)
class Attempt:
    name: str
    address: str
    ok: bool
    unknown_name: bool = False  # Samba knows no such account (with guests on: a guest)


def parse_line(line: str) -> Attempt | None:
    """The login attempt a log line reports, or None for any other line."""
    text = line.strip()
    if not text.startswith("{") or '"Authentication"' not in text:
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if event.get("type") != "Authentication":
        return None
    auth = event.get("Authentication") or {}
    name = auth.get("clientAccount") or ""
    status = auth.get("status")
    if not name or (status != OK and status not in FAILED):
        return None  # anonymous probes, or not a verdict on a password
    return Attempt(name, address_of(str(auth.get("remoteAddress") or "")), status == OK,
                   unknown_name=status == NO_SUCH_USER)


def address_of(remote: str) -> str:
    """`ipv4:10.0.0.7:50123` → `10.0.0.7`; `ipv6:[fe80::1]:50123` → `fe80::1`."""
    _, _, rest = remote.partition(":")
    if rest.startswith("["):
        return rest[1:rest.find("]")]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


class AuditTail:
    """New login attempts in smbd's log since the last `read()`."""

    def __init__(self, log_file: Path) -> None:
        self.path = log_file
        self.inode, self.offset = self._position()

    def _position(self) -> tuple[int | None, int]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None, 0
        return st.st_ino, st.st_size

    def read(self) -> list[Attempt]:
        attempts: list[Attempt] = []
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return attempts
        if st.st_ino != self.inode:
            # Rotated: finish the old file (now log.smbd.old), then start the new one.
            old = self.path.with_name(self.path.name + ".old")
            try:
                if self.inode is not None and os.stat(old).st_ino == self.inode:
                    attempts += self._read_from(old, self.offset)[0]
            except FileNotFoundError:
                pass
            self.inode, self.offset = st.st_ino, 0
        if st.st_size < self.offset:
            self.offset = 0  # truncated
        found, self.offset = self._read_from(self.path, self.offset)
        return attempts + found

    @staticmethod
    def _read_from(path: Path, offset: int) -> tuple[list[Attempt], int]:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # only whole lines; the rest is read next time
        attempts = [a for line in data[:end].decode("utf-8", "replace").splitlines()
                    if (a := parse_line(line)) is not None]
        return attempts, offset + end
