"""Putting a rendered smb.conf in place: validate with `testparm -s`, replace atomically,
and ask a running smbd to reload it (connected clients stay connected)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from nasfs.errors import NasfsError


class SmbConfigError(NasfsError):
    """testparm refused the configuration (the old one stays in place)."""


def validate(path: Path) -> None:
    done = subprocess.run(["testparm", "-s", "--suppress-prompt", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problems = [line for line in done.stderr.splitlines()
                    if "ERROR" in line or "Unknown" in line or "Ignoring" in line]
        raise SmbConfigError(f"testparm refused the Samba configuration: "
                             f"{'; '.join(problems) or done.stderr.strip()}")


def apply(text: str, path: Path, *, directories: tuple[Path, ...] = ()) -> bool:
    """Install `text` at `path` if it differs (validated first); reload smbd if it runs.
    True if the file changed."""
    for d in directories:
        d.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        validate(Path(tmp))
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    reload(path)
    return True


def reload(path: Path) -> bool:
    """Tell the smbd using `path` to reload it; False if none is running."""
    done = subprocess.run(["smbcontrol", f"--configfile={path}", "smbd", "reload-config"],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0
