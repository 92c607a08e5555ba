"""Names in another case, for smbd: the folder attribute `glusterfs.get_real_filename:NAME`.

smbd serves names case-insensitively, as Windows expects. Before it creates a name that
does not exist exactly, it must learn whether the folder holds it in another case, and by
default it lists the whole folder through the mount to find out: N new files in one folder
cost N²/2 listed entries (docs/smb.md, "Small files"). Samba's `glusterfs_fuse` VFS module
(loaded on every share without `case_sensitive`) asks instead for this extended attribute
of the folder; the live tree answers it from one query of the folder's names. The value is
the name as stored; ENOENT says the folder holds no such name in any case.

The answer is what a lookup of that name would tell the caller: the folder must be one they
may read (judged and logged as any getxattr), and in a share folder only the names they see
there match (`#trash` and `#snapshot`; in `homes`, only their own home folder). Where no
quick answer is kept (the root, whose names are shares, and the `#trash` and `#snapshot`
folders) the request fails with EOPNOTSUPP, and smbd lists the folder as it would without
the module.

Names match as smbd's own scan matches them, one character at a time without regard to case
(`str.lower`, which leaves the few characters that lower into two unmatched); the exact
name wins, else the oldest entry.
"""

from __future__ import annotations

from collections.abc import Iterable

REAL_NAME_PREFIX = b"glusterfs.get_real_filename:"


def wanted_name(xattr: bytes) -> bytes | None:
    """The name asked for by a real-name attribute, or None if `xattr` is no such query."""
    if not xattr.startswith(REAL_NAME_PREFIX):
        return None
    return xattr[len(REAL_NAME_PREFIX):]


def _folded(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape").lower()


def real_name(names: Iterable[bytes], wanted: bytes) -> bytes | None:
    """The name of `names` (oldest first) that `wanted` means, or None."""
    names = list(names)
    if wanted in names:
        return wanted
    key = _folded(wanted)
    for name in names:
        if _folded(name) == key:
            return name
    return None
