"""nasfs's own ssh key pair (ed25519, made once, under the state dir) and pinned host keys.

A second box trusts nasfs by adding `public_key()` to its authorized_keys. nasfs trusts the
other box only through the host key pinned when the destination was added: the ssh command
uses a known_hosts file holding exactly that key and `StrictHostKeyChecking=yes`, so a box
that answers with another key is refused (never "accept new").
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

from nasfs.backup.model import Destination, InvalidJob
from nasfs.backup.results import DestinationMissing
from nasfs.backup.state import backup_state_dir, write_private


def key_path() -> Path:
    path = backup_state_dir() / "id_ed25519"
    if not path.exists():
        done = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                               "nasfs-backup", "-f", str(path)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise InvalidJob(f"could not make nasfs's ssh key: {done.stderr.strip()}")
    return path


def public_key() -> str:
    return Path(str(key_path()) + ".pub").read_text().strip()


def fingerprint(key_line: str) -> str:
    """'SHA256:...' of a public key line 'TYPE BASE64 [comment]' (as ssh-keygen -l shows)."""
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def scan(host: str, port: int) -> list[str]:
    """The host keys `host` offers ('TYPE BASE64' lines)."""
    done = subprocess.run(["ssh-keyscan", "-T", "10", "-p", str(port), host],
                          capture_output=True, text=True, check=False)
    keys = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            keys.append(f"{parts[1]} {parts[2]}")
    if not keys:
        raise DestinationMissing(f"{host} port {port} offers no ssh host key "
                                 f"({done.stderr.strip() or 'no answer'})")
    return keys


def pin(host: str, port: int, *, host_key: str | None, fingerprint_: str | None) -> str:
    """The host key line to pin: the one given, or the scanned key matching the given
    fingerprint. With neither, InvalidJob listing what the host offers (to check on it)."""
    if host_key is not None:
        return " ".join(host_key.split()[:2])
    offered = scan(host, port)
    if fingerprint_ is not None:
        for key in offered:
            if fingerprint(key) == fingerprint_.strip():
                return key
        raise InvalidJob(f"{host} offers no host key with fingerprint {fingerprint_} (it "
                         f"offers {', '.join(fingerprint(k) for k in offered)}): refused")
    raise InvalidJob(
        f"pin the host key of {host}: check on that box with 'ssh-keygen -lf "
        f"/etc/ssh/ssh_host_ed25519_key.pub' and give --ssh-fingerprint; it offers "
        + ", ".join(f"{k.split()[0]} {fingerprint(k)}" for k in offered))


def ssh_command(dest: Destination, job: str) -> list[str]:
    """The ssh command line for `dest` (known_hosts holding only its pinned key)."""
    assert dest.host is not None and dest.host_key is not None
    known = backup_state_dir() / f"known_hosts-{job}"
    name = dest.host if dest.port == 22 else f"[{dest.host}]:{dest.port}"
    write_private(known, f"{name} {dest.host_key}\n")
    return ["ssh", "-i", str(key_path()), "-p", str(dest.port),
            "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=15",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
