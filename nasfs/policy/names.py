"""Rules for user, group and share names (one place, so CLI, daemon and tests agree)."""

from __future__ import annotations

import re

from nasfs.policy.errors import InvalidName

# POSIX-portable login names (as useradd accepts by default): start with a letter or '_',
# then letters, digits, '_', '-', '.'; an optional trailing '$' (Samba machine accounts).
_ACCOUNT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
MAX_SHARE_NAME_BYTES = 255

# The rules in words, stated once: error messages, the console's hints and docs/policy.md
# say exactly this. Share names are folder names people read ("Büro 2026" is fine); only
# what a folder name cannot hold, or what nasfs reserves, is refused.
ACCOUNT_NAME_RULE = ("at most 32 letters, digits, '_', '-' or '.', starting with a letter or "
                     "'_'")
SHARE_NAME_RULE = ("any letters (spaces and accents too), at most 255 bytes; not '.' or "
                   "'..', no '/', and not starting with '#'")


def check_account_name(name: str, what: str = "user") -> str:
    """`name` if it is a valid user/group name, else InvalidName saying why."""
    if not name:
        raise InvalidName(f"a {what} name cannot be empty")
    if not _ACCOUNT.fullmatch(name):
        raise InvalidName(
            f"{what} name {name!r} is not valid: use {ACCOUNT_NAME_RULE}")
    return name


def check_share_name(name: str) -> str:
    """`name` if it can be a top-level folder of the mount, else InvalidName saying why."""
    if not name:
        raise InvalidName("a share name cannot be empty")
    if name in (".", ".."):
        raise InvalidName(f"a share cannot be called {name!r}")
    if "/" in name or "\0" in name:
        raise InvalidName(f"share name {name!r} contains '/' or a NUL character")
    if name.startswith("#"):
        raise InvalidName(f"share name {name!r} starts with '#', which nasfs reserves "
                          "for its own folders (such as #trash)")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidName(f"share name {name!r} is not valid Unicode") from None
    if size > MAX_SHARE_NAME_BYTES:
        raise InvalidName(f"share name {name[:20]!r}... is {size} bytes long; at most "
                          f"{MAX_SHARE_NAME_BYTES} are allowed")
    return name


def check_id(value: int, what: str) -> int:
    """A uid or gid: an integer 0..2**32-2 (-1 means 'no id' to the kernel)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32 - 1:
        raise InvalidName(f"{what} {value!r} is not a valid id (0 to {2**32 - 2})")
    return value
