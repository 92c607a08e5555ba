"""Typed calls for the `trash.*` control methods (the trash is managed through the daemon
of a mounted array: it lives in the filesystem's database)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Caller(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


# The stored reasons in words: the same for `nasfs trash list` and the console's Trash.
REASON_WORDS = {"unlink": "deleted", "replaced": "overwritten", "truncated": "emptied"}


@dataclass(frozen=True)
class TrashItemInfo:
    id: int
    share: str
    path: str  # inside the share, leading '/'
    user: str | None
    uid: int
    deleted_ns: int
    size: int
    reason: str  # unlink | replaced | truncated (as stored; people read `how`)

    @property
    def how(self) -> str:
        """What happened to the file, in the words the access log uses for the operation
        (a `delete` row's file is `deleted` here)."""
        return REASON_WORDS.get(self.reason, self.reason)


@dataclass(frozen=True)
class RestoreResult:
    item: TrashItemInfo
    share: str
    path: str  # where it is now, inside `share`


class TrashClient:
    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def items(self, share: str | None = None, *, user: str | None = None) -> list[TrashItemInfo]:
        params: dict[str, Any] = {}
        if share is not None:
            params["share"] = share
        if user is not None:
            params["user"] = user
        return [TrashItemInfo(**i) for i in self.caller.call("trash.list", params)["items"]]

    def usage(self) -> dict[str, dict[str, int]]:
        return dict(self.caller.call("trash.usage", {})["shares"])

    def restore(self, item_id: int, to: str | None = None) -> RestoreResult:
        params: dict[str, Any] = {"id": item_id}
        if to is not None:
            params["to"] = to
        r = self.caller.call("trash.restore", params)
        return RestoreResult(TrashItemInfo(**r["item"]), r["share"], r["path"])

    def purge(self, item_id: int | None = None, *, older_than_days: float | None = None,
              share: str | None = None) -> list[TrashItemInfo]:
        params: dict[str, Any] = {}
        if item_id is not None:
            params["id"] = item_id
        if older_than_days is not None:
            params["older_than_days"] = older_than_days
        if share is not None:
            params["share"] = share
        return [TrashItemInfo(**i) for i in self.caller.call("trash.purge", params)["purged"]]
