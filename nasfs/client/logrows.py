"""How a log row (as the daemon answers `log.query`) reads for people: who acted and on
what. One place for the CLI and the console, so both name the same row the same way."""

from __future__ import annotations

from typing import Any

# A row from an older array may have neither a user nor a uid: it reads as SYSTEM_ACTOR too.
from nasfs.operations import SYSTEM_ACTOR


def who(row: dict[str, Any]) -> str:
    """The user's name, else `uid N`; `nasfs` for the box's own jobs (schedules, retention,
    the lock of a terminal)."""
    if row.get("user"):
        return str(row["user"])
    return SYSTEM_ACTOR if row.get("uid") is None else f"uid {row['uid']}"


def target(row: dict[str, Any]) -> str:
    """What a row acted on: SHARE/PATH (a path in a share starts with "/" already), a user,
    `user:NAME` for a lock, a mail's addressees; `a -> b` for two-sided actions."""
    share, path = row.get("share") or "", row.get("path") or ""
    if share and path and not path.startswith("/"):
        path = "/" + path
    second = row.get("second_path")
    return f"{share}{path} -> {second}" if second else share + path
