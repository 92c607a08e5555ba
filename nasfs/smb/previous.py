"""Previous Versions for snapshots of any name, each user seeing the snapshots they may browse.

Windows lists a share's earlier versions by moment (`@GMT-YYYY.MM.DD-HH.MM.SS`, UTC), and
vfs_shadow_copy2 finds them by reading one directory whose entries carry such names. A
snapshot keeps the name it was given (`before-holidays`), so smbd does not read `#snapshot`
itself: each share gets directories of its own below `smb.state_dir/previous/`, holding one
symbolic link per snapshot, named by the snapshot's moment and pointing at that snapshot's
folder in the share's `#snapshot`:

    previous/<docs, alice>/@GMT-2026.12.01-09.00.00 -> /srv/nas/docs/#snapshot/before-holidays

There is one directory per share and SMB user (`views`): it links only the snapshots the
gate lets that user open (the now-and-then rule of `#snapshot`: nasfs.smb.version_views),
so Previous Versions list no moment the user could not open. Each user's own configuration
file points the share's `shadow:snapdir` at that user's directory; the share's own section
points at the directory of nobody in particular, which holds what a guest may open of a
guest share, and nothing otherwise. A snapshot named by its moment (the default names)
links under its own name. Opening a previous version follows the link into the mount, as
the session's user: the gate still decides, as for any `#snapshot` read. Two snapshots of
the same second get one entry (the one named by that moment, else the older one): Windows
cannot tell them apart either.

smbd reads these directories as the session's user, so every local user can reach them;
a directory named after its share or user would tell anyone who tries a name (or lists
`previous/`) that a hidden share of that name exists. So `previous/` is mode 0711 (not
listable) and each directory is named by a keyed hash of the share's name and the user's,
with a random key kept in `private/previous.key` (0600 in a 0700 directory): the names
appear only in the share's own section of the configuration, and hidden shares' sections
only in the per-user files of the users who may use them (0700 directory).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

GMT_FORMAT = "@GMT-%Y.%m.%d-%H.%M.%S"
PREVIOUS_DIR = "previous"
SNAPSHOT_FOLDER = "#snapshot"  # the gate's snapshot folder in every share


# Both are asked once per user, share and snapshot on every relink: 100k strptime calls
# for 50 users, 10 shares and 100 snapshots. Snapshots are few, so their answers are kept.
@functools.lru_cache(maxsize=4096)
def gmt_name(created_ns: int) -> str:
    """The Previous Versions name of a moment (UTC, to the second)."""
    return time.strftime(GMT_FORMAT, time.gmtime(created_ns // 1_000_000_000))


@functools.lru_cache(maxsize=4096)
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


# (share, the name of the user's configuration file, or None: the share's own section)
View = tuple[str, str | None]


def dir_name(state_dir: Path, share: str, viewer: str | None = None) -> str:
    """The name of the directory below `previous/` of `share` as `viewer` sees it (the
    key of a user's configuration file; None: the share's own section)."""
    text = share if viewer is None else f"{share}\0{viewer}"
    return hashlib.blake2b(text.encode(), key=_key(state_dir), digest_size=16).hexdigest()


def share_dir(state_dir: Path, share: str, viewer: str | None = None) -> Path:
    return state_dir / PREVIOUS_DIR / dir_name(state_dir, share, viewer)


# What the last sync left in each directory, with the directory's mtime then: a directory
# whose links and mtime are unchanged is not read again (with a folder per share and user,
# re-reading every link on each snapshot would cost a readlink per user, share and snapshot).
_synced: dict[Path, tuple[dict[str, str], int]] = {}


def sync(state_dir: Path, mountpoint: Path, views: Mapping[View, Mapping[str, str]]) -> bool:
    """Make `previous/` hold exactly one directory per view, each with the links its
    {@GMT name: snapshot name} asks for (and no directory of a view that is gone). True if
    anything changed."""
    root = state_dir / PREVIOUS_DIR
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    root.chmod(0o711)  # reachable by the sessions' users, listable by none
    names = {dir_name(state_dir, share, viewer): (share, viewer) for share, viewer in views}
    changed = False
    for stale in root.iterdir():
        if stale.name not in names:
            shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
            _synced.pop(stale, None)
            changed = True
    for name, (share, viewer) in sorted(names.items()):
        folder = root / name
        base = f"{mountpoint / share / SNAPSHOT_FOLDER}/"  # (no Path per link: 100k of them)
        targets = {gmt: base + snapshot for gmt, snapshot in views[share, viewer].items()}
        if _link(folder, targets):
            changed = True
    return changed


def _link(folder: Path, targets: dict[str, str]) -> bool:
    """Make `folder` hold exactly the links `targets` ({name: target}). True if changed."""
    folder.mkdir(mode=0o755, exist_ok=True)  # smbd lists it as the session's user
    last = _synced.get(folder)
    if last is not None and last[1] == folder.stat().st_mtime_ns:
        # Nobody touched the folder since it was made to hold `last`: change only what
        # differs (a new snapshot adds one link to each folder; reading all of them again
        # would cost a readlink per user, share and snapshot).
        if last[0] == targets:
            return False
        had = last[0]
        try:
            for name, target in had.items():
                if targets.get(name) != target:
                    (folder / name).unlink()
            _add_links(folder, targets, {gmt: target for gmt, target in targets.items()
                                         if had.get(gmt) != target})
            return True
        except OSError:
            _synced.pop(folder, None)  # not as remembered after all: read it as it is
    changed = False
    for entry in folder.iterdir():
        try:
            keep = targets.get(entry.name) == os.readlink(entry)
        except OSError:
            keep = False
        if not keep:
            entry.unlink()
            changed = True
    missing = {gmt: target for gmt, target in targets.items()
               if not (folder / gmt).is_symlink()}
    return _add_links(folder, targets, missing) or changed


def _add_links(folder: Path, targets: dict[str, str], missing: dict[str, str]) -> bool:
    """Add the links `missing` to `folder` and remember it as holding `targets`."""
    changed = False
    for gmt, target in missing.items():
        link = folder / gmt
        tmp = folder / f".{gmt}.new"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(target, tmp)
        os.rename(tmp, link)
        changed = True
    _synced[folder] = (dict(targets), folder.stat().st_mtime_ns)
    return changed
