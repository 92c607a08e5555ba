"""Where nasfs keeps what backups need on this box, outside the array: its ssh key pair,
pinned host keys and the rclone config with cloud secrets. Root-only (0700 folder, 0600
files). `NASFS_STATE_DIR` changes the place (tests use it); the default is /var/lib/nasfs.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STATE_DIR = Path("/var/lib/nasfs")


def backup_state_dir() -> Path:
    base = Path(os.environ.get("NASFS_STATE_DIR") or DEFAULT_STATE_DIR)
    path = base / "backup"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner (root) only, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
