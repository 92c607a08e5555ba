"""Publishing the NAS users and groups to the operating system through libnss-extrausers.

With the setting `os.accounts` on, `/var/lib/extrausers/{passwd,group,shadow}` hold exactly
the array's users (uid, primary group `users`), groups (gid, members) and locked shadow
entries, so `getent`, `id`, `initgroups` and smbd see the same identities as the gate, and
the kernel's permission checks inside a share see a user's NAS groups. `/etc/passwd` is never
touched. nasfs owns these three files wholly (one array per box publishes its accounts); the
passwd comment field says which array wrote an entry.

Every write is atomic (a temporary file in the same directory, fsync, rename), so a reader
sees the old set or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from nasfs.policy.errors import AlreadyExists
from nasfs.policy.records import GroupRecord, UserRecord
from nasfs.policy.snapshot import ADMIN_UID

# libnss-extrausers reads this directory and no other (compiled into the library).
EXTRAUSERS_DIR = Path(os.environ.get("NASFS_EXTRAUSERS_DIR", "/var/lib/extrausers"))
# Debian's `users` group: the primary group of every NAS user (NAS groups are supplementary).
PRIMARY_GID = 100
COMMENT_PREFIX = "nasfs"
T = TypeVar("T")


def comment(identity: str | None) -> str:
    """The passwd comment field of the entries this array writes."""
    return f"{COMMENT_PREFIX} {identity}" if identity else COMMENT_PREFIX


def render(users: Iterable[UserRecord], groups: Iterable[GroupRecord],
           identity: str | None) -> dict[str, str]:
    """The text of passwd, group and shadow for these accounts (sorted by id, so a change
    of nothing renders the same bytes)."""
    # The administrator is root (uid 0), which the system has already.
    people = sorted((u for u in users if u.uid != ADMIN_UID), key=lambda u: u.uid)
    published = {u.name for u in people}
    passwd = "".join(f"{u.name}:x:{u.uid}:{PRIMARY_GID}:{comment(identity)}:/nonexistent:"
                     f"/usr/sbin/nologin\n" for u in people)
    # '!': no OS password; NAS passwords are checked by nasfs (and Samba keeps its own hash).
    shadow = "".join(f"{u.name}:!:::::::\n" for u in people)
    group = "".join(f"{g.name}:x:{g.gid}:{','.join(m for m in g.members if m in published)}\n"
                    for g in sorted(groups, key=lambda g: g.gid))
    return {"passwd": passwd, "group": group, "shadow": shadow}


def write(files: dict[str, str], directory: Path | None = None) -> bool:
    """Replace the files whose text differs; True if any was written."""
    directory = directory or EXTRAUSERS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, text in files.items():
        path = directory / name
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except FileNotFoundError:
            pass
        # shadow holds no secret ('!') but keeps the usual restrictive mode all the same.
        _atomic_write(path, text, 0o640 if name == "shadow" else 0o644)
        changed = True
    return changed


def _atomic_write(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sync(users: Iterable[UserRecord], groups: Iterable[GroupRecord], identity: str | None,
         directory: Path | None = None) -> bool:
    return write(render(users, groups, identity), directory)


def clear(directory: Path | None = None) -> bool:
    """Withdraw every NAS account from the system (the setting was turned off)."""
    return write({"passwd": "", "group": "", "shadow": ""}, directory)


def _published(directory: Path | None, name: str) -> dict[str, int]:
    """name -> id of the entries in our own file `name` (they are ours, not clashes)."""
    try:
        text = ((directory or EXTRAUSERS_DIR) / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    found: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            found[fields[0]] = int(fields[2])
    return found


def check_user(name: str, uid: int, directory: Path | None = None) -> None:
    """Refuse a user whose name or uid the system has already (for another account)."""
    ours = _published(directory, "passwd")
    for entry in _lookup(lambda: pwd.getpwnam(name)), _lookup(lambda: pwd.getpwuid(uid)):
        if entry is None or ours.get(entry.pw_name) == entry.pw_uid:
            continue
        raise AlreadyExists(f"user {name!r} (uid {uid}) clashes with the system account "
                            f"{entry.pw_name!r} (uid {entry.pw_uid}); pick another "
                            f"{'name' if entry.pw_name == name else 'uid'}")


def check_group(name: str, gid: int, directory: Path | None = None) -> None:
    """Refuse a group whose name or gid the system has already (for another group)."""
    ours = _published(directory, "group")
    for entry in _lookup(lambda: grp.getgrnam(name)), _lookup(lambda: grp.getgrgid(gid)):
        if entry is None or ours.get(entry.gr_name) == entry.gr_gid:
            continue
        raise AlreadyExists(f"group {name!r} (gid {gid}) clashes with the system group "
                            f"{entry.gr_name!r} (gid {entry.gr_gid}); pick another "
                            f"{'name' if entry.gr_name == name else 'gid'}")


def _lookup(find: Callable[[], T]) -> T | None:
    try:
        return find()
    except KeyError:
        return None
