"""A real smbd over a real mounted array, and the two clients the SMB tests use.

`SmbNas` is a `PolicyMount` (a daemon process mounting a fresh array) with the NAS accounts
published to the operating system (libnss-extrausers: the machine's files are saved first
and restored afterwards, under a lock other test processes honour) and SMB switched on
through the product's own settings: smbd runs as the daemon's child on 127.0.0.1 at a free
port, with its configuration, passdb, lock, state, cache, pid directories and log below the
test's own directory. `stop()` switches SMB off and checks that no smbd or samba-dcerpcd of
this configuration is left.

Clients: `smbclient(...)` runs Samba's command-line client; `tree(...)` opens a tree with
smbprotocol (a Python SMB2/3 client) and answers with the tree or the NT status name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.fuse_policy_util import PolicyMount
from tests.os_accounts_util import preserved_extrausers

HOST = "127.0.0.1"
# An ACL entry as `share.acl` takes it: (kind, principal, access).
Grant = tuple[str, str | None, str]
EVERYONE_RW: Grant = ("everyone", None, "rw")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smb_session(port: int, user: str, password: str, *,
                signing: bool = True) -> Iterator[Session]:
    """An authenticated smbprotocol session with the smbd on HOST:`port` (closed afterwards).
    `signing=False` for a guest: a guest session has no key to sign with, and Samba exempts
    it from the signing it requires of everyone else (smbprotocol, seeing the server require
    signing, would refuse the guest session itself)."""
    conn = Connection(uuid.uuid4(), HOST, port)
    conn.connect(timeout=30)
    if not signing:
        conn.require_signing = False
    try:
        session = Session(conn, user, password, require_encryption=False)
        session.connect()
        yield session
    finally:
        conn.disconnect()


class SmbNas(PolicyMount):
    """See the module docstring."""

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.port = free_port()
        self.state_dir = self.outer / "smb"

    def configure_smb(self) -> None:
        """Accounts published, smbd's port, interface and state directory (before any
        password is set: Samba's passdb lives in that directory)."""
        a = self.admin
        a.settings_set("os.accounts", True)
        a.settings_set("smb.port", self.port)
        a.settings_set("smb.interfaces", HOST)
        a.settings_set("smb.state_dir", str(self.state_dir))

    def cleanup(self) -> None:
        """As PolicyMount's, and then no smbd of ours may outlive a failed test either."""
        super().cleanup()
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @property
    def conf(self) -> Path:
        return self.state_dir / "smb.conf"

    def share(self, name: str, *grants: Grant, **options: Any) -> None:
        """Create the share `name` (with share.create's `options`) and give it `grants`."""
        self.admin.share_create(name, **options)
        for kind, principal, access in grants:
            self.admin.share_acl(name, kind, principal, access)

    def status(self) -> dict[str, Any]:
        return dict(self.call("smb.status"))

    def leftovers(self) -> list[int]:
        """Pids of processes still running with this smbd's configuration."""
        wanted = str(self.conf).encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and any(a == wanted or a.endswith(b"=" + wanted) for a in args):
                found.append(int(proc.name))
        return found

    def smbclient(self, share: str, user: str, password: str, *commands: str,
                  protocol: str | None = None) -> subprocess.CompletedProcess[str]:
        args = ["smbclient", "-p", str(self.port), f"//{HOST}/{share}", "-U",
                f"{user}%{password}", "-c", "; ".join(commands) or "ls"]
        if protocol:
            args += ["-m", protocol]
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)

    def share_list(self, user: str, password: str) -> list[str]:
        done = subprocess.run(["smbclient", "-p", str(self.port), "-L", HOST, "-g", "-U",
                               f"{user}%{password}"], capture_output=True, text=True,
                              check=False, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return sorted(line.split("|")[1] for line in done.stdout.splitlines()
                      if line.startswith("Disk|"))

    def session(self, user: str, password: str, *,
                signing: bool = True) -> contextlib.AbstractContextManager[Session]:
        """See `smb_session`."""
        return smb_session(self.port, user, password, signing=signing)

    def tree_status(self, session: Session, share: str) -> str:
        """'OK' if the tree connect works, else the NT status name smbprotocol raised."""
        tree = TreeConnect(session, rf"\\{HOST}\{share}")
        try:
            # A guest session has no key to verify the negotiation with.
            tree.connect(require_secure_negotiate=session.signing_key is not None)
        except SMBResponseException as exc:
            return type(exc).__name__
        tree.disconnect()
        return "OK"


def serve_smb(base: Path, users: dict[str, tuple[int, str]], *,
              max_failures: int | None = None) -> Iterator[SmbNas]:
    """A fixture body: `yield from serve_smb(tmp, {"alice": (uid, password)})`. With
    `max_failures`, the lock-out's `auth.max_failures` is set once smbd runs."""
    with preserved_extrausers():
        nas = SmbNas(base)
        try:
            nas.start()
            nas.configure_smb()
            for name, (uid, password) in users.items():
                nas.admin.user_add(name, uid, password=password)
            nas.admin.settings_set("smb.enabled", True)
            if max_failures is not None:
                nas.admin.settings_set("auth.max_failures", max_failures)
            yield nas
            nas.admin.settings_set("smb.enabled", False)
            assert nas.leftovers() == []
            nas.stop()
            assert nas.leftovers() == [], "smbd outlived its daemon"
        finally:
            nas.cleanup()


# The module fixtures' form: `with smb_nas(tmp, users) as nas: nas.share(...); yield nas`
# (the with block ends smbd and the daemon also when the set-up after it fails).
smb_nas = contextlib.contextmanager(serve_smb)
