"""Putting a rendered configuration in place: validate with `testparm -s`, replace each file
atomically, drop the per-user files of users who no longer exist, and ask a running smbd to
reload (connected clients stay connected; smbd closes only connections to shares that are
gone)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.smb.config import MAIN, USERS_DIR
from nasfs.wire import codes


class SmbConfigError(NasfsError):
    """testparm refused the configuration (the old one stays in place)."""

    wire_code = codes.SMB_CONFIG


def validate(path: Path) -> None:
    done = subprocess.run(["testparm", "-s", "--suppress-prompt", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problems = [line for line in done.stderr.splitlines()
                    if "ERROR" in line or "Unknown" in line or "Ignoring" in line]
        raise SmbConfigError(f"testparm refused the Samba configuration: "
                             f"{'; '.join(problems) or done.stderr.strip()}")


def write_file(path: Path, text: str, *, check: bool = False, mode: int = 0o644) -> bool:
    """Install `text` at `path` if it differs (with `check`, validated by testparm first).
    True if the file changed."""
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
        if check:
            validate(Path(tmp))
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def apply(text: str, path: Path, *, directories: tuple[Path, ...] = ()) -> bool:
    """Install the single file `text` at `path` if it differs (validated first); reload smbd
    if it runs. True if the file changed."""
    for d in directories:
        d.mkdir(parents=True, exist_ok=True)
    changed = write_file(path, text, check=True)
    if changed:
        reload(path)
    return changed


def make_private(state_dir: Path, directories: tuple[Path, ...]) -> None:
    """The state directory 0711 (smbd's users reach `previous/` through it, and list
    nothing), `directories` 0700: files there name hidden shares (config.directories)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o711)
    for d in directories:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        d.chmod(0o700)


def apply_files(files: dict[str, str], state_dir: Path, *,
                directories: tuple[Path, ...] = ()) -> bool:
    """Install a whole rendered configuration (`config.render`) below `state_dir`; reload a
    running smbd if anything changed. The per-user files go first: the main file that
    includes them is validated, and only then replaced."""
    make_private(state_dir, directories)
    changed = False
    users = state_dir / USERS_DIR
    users.mkdir(mode=0o700, parents=True, exist_ok=True)
    for rel, text in files.items():
        if rel != MAIN:
            changed |= write_file(state_dir / rel, text)
    wanted = {Path(rel).name for rel in files if rel != MAIN}
    for stale in users.glob("*.conf"):
        if stale.name not in wanted:
            stale.unlink()  # a deleted user, or one who lost their password
            changed = True
    changed |= write_file(state_dir / MAIN, files[MAIN], check=True)
    if changed:
        reload(state_dir / MAIN)
    return changed


def reload(path: Path) -> bool:
    """Tell the smbd using `path` to reload it; False if none is running."""
    done = subprocess.run(["smbcontrol", f"--configfile={path}", "smbd", "reload-config"],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0
