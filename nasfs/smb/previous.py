"""Previous Versions for snapshots of any name.

Windows lists a share's earlier versions by moment (`@GMT-YYYY.MM.DD-HH.MM.SS`, UTC), and
vfs_shadow_copy2 finds them by reading one directory whose entries carry such names. A
snapshot keeps the name it was given (`before-holidays`), so smbd does not read `#snapshot`
itself: each share gets a directory of its own below `smb.state_dir/previous/`, holding one
symbolic link per snapshot, named by the snapshot's moment and pointing at that snapshot's
folder in the share's `#snapshot`:

    previous/docs/@GMT-2026.12.01-09.00.00 -> /srv/nas/docs/#snapshot/before-holidays

A snapshot named by its moment (the default names) links under its own name. Opening a
previous version follows the link into the mount, as the session's user: the gate decides
as for any `#snapshot` read (who may see which snapshot, and the ACL of that moment).
Two snapshots of the same second get one entry (the one named by that moment, else the
older one): Windows cannot tell them apart either.

smbd reads these directories as the session's user, so every local user can reach them;
a directory named after its share would tell anyone who tries a name (or lists
`previous/`) that a hidden share of that name exists. So `previous/` is mode 0711 (not
listable) and each share's directory is named by a keyed hash of the share's name, with a
random key kept in `private/previous.key` (0600 in a 0700 directory): the names appear only
in the share's own section of the configuration, and hidden shares' sections only in the
per-user files of the users who may use them (0700 directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

GMT_FORMAT = "@GMT-%Y.%m.%d-%H.%M.%S"
PREVIOUS_DIR = "previous"
SNAPSHOT_FOLDER = "#snapshot"  # the gate's snapshot folder in every share


def gmt_name(created_ns: int) -> str:
    """The Previous Versions name of a moment (UTC, to the second)."""
    return time.strftime(GMT_FORMAT, time.gmtime(created_ns // 1_000_000_000))


def _is_gmt_name(name: str) -> bool:
    try:
        time.strptime(name, GMT_FORMAT)
    except ValueError:
        return False
    return True


def versions(snapshots: Iterable[tuple[str, int]]) -> dict[str, str]:
    """{@GMT name: snapshot name} for snapshots given as (name, created_ns), oldest first."""
    snapshots = list(snapshots)
    chosen: dict[str, str] = {name: name for name, _ in snapshots if _is_gmt_name(name)}
    for name, created_ns in snapshots:
        if not _is_gmt_name(name):
            chosen.setdefault(gmt_name(created_ns), name)
    return chosen


KEY_FILE = Path("private") / "previous.key"
_keys: dict[Path, bytes] = {}


def _key(state_dir: Path) -> bytes:
    """The key naming the share directories (made once, kept across restarts, so the
    configuration renders the same bytes)."""
    key = _keys.get(state_dir)
    if key is not None:
        return key
    path = state_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # the first maker's key wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} does not hold a 32-byte key: remove it to make a new one")
    _keys[state_dir] = key
    return key


def dir_name(state_dir: Path, share: str) -> str:
    """The name of `share`'s directory below `previous/` (see the module docstring)."""
    return hashlib.blake2b(share.encode(), key=_key(state_dir), digest_size=16).hexdigest()


def share_dir(state_dir: Path, share: str) -> Path:
    return state_dir / PREVIOUS_DIR / dir_name(state_dir, share)


def sync(state_dir: Path, mountpoint: Path, shares: Iterable[str],
         wanted: dict[str, str]) -> bool:
    """Make `previous/SHARE/` hold exactly the links `wanted` for every share (and no
    directory of a share that is gone). True if anything changed."""
    root = state_dir / PREVIOUS_DIR
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    root.chmod(0o711)  # reachable by the sessions' users, listable by none
    shares = set(shares)
    names = {dir_name(state_dir, share) for share in shares}
    changed = False
    for stale in root.iterdir():
        if stale.name not in names:
            shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
            changed = True
    for share in sorted(shares):
        folder = share_dir(state_dir, share)
        folder.mkdir(mode=0o755, exist_ok=True)  # smbd lists it as the session's user
        targets = {gmt: str(mountpoint / share / SNAPSHOT_FOLDER / name)
                   for gmt, name in wanted.items()}
        for entry in folder.iterdir():
            try:
                keep = targets.get(entry.name) == os.readlink(entry)
            except OSError:
                keep = False
            if not keep:
                entry.unlink()
                changed = True
        for gmt, target in targets.items():
            link = folder / gmt
            if link.is_symlink():
                continue
            tmp = folder / f".{gmt}.new"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(target, tmp)
            os.rename(tmp, link)
            changed = True
    return changed
