"""SQL of the trash tables in `fs.db` (the only module that queries them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nasfs.fs.repository import MetadataDB

log = logging.getLogger(__name__)

_COLS = "id, share, path, ino, user, uid, deleted_ns, size, reason"


@dataclass(frozen=True, slots=True)
class TrashItem:
    id: int
    share: str
    path: bytes  # inside the share, leading '/'
    ino: int
    user: str | None
    uid: int
    deleted_ns: int
    size: int
    reason: str

    @property
    def name(self) -> bytes:
        """The original base name."""
        return self.path.rsplit(b"/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "share": self.share,
                "path": self.path.decode("utf-8", "surrogateescape"),
                "user": self.user, "uid": self.uid, "deleted_ns": self.deleted_ns,
                "size": self.size, "reason": self.reason}


def _item(row: Any) -> TrashItem:
    r = tuple(row)
    return TrashItem(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), r[4], int(r[5]),
                     int(r[6]), int(r[7]), str(r[8]))


class TrashRepository:
    def __init__(self, db: MetadataDB,
                 write: Callable[[str, Any], Any] | None = None) -> None:
        self.db = db
        # How the trash's own rows are written: through the filesystem (`side_write`),
        # which then knows they change none of its rows and keeps what it holds of them.
        self._write = write or db.execute
        # The next item id, read once (`max(id)`) and counted on in memory: this repository
        # is the only writer of trash_item on its connection (one per mounted volume). A
        # rollback may have undone inserts, so after one the next insert reads it again
        # (ids stay what `max(id) + 1` gives, as before the counter).
        self._next_id: int | None = None
        self._rollbacks_seen = db.rollbacks

    def insert(self, share: str, path: bytes, ino: int, user: str | None, uid: int,
               deleted_ns: int, size: int, reason: str) -> TrashItem:
        """Add an item; returns it as `get` would read it back (without reading it)."""
        # An explicit id: the statement runs on every copy, which must all agree on it.
        item = TrashItem(self._new_id(), share, bytes(path), ino, user, uid, deleted_ns,
                         size, reason)
        self._write(
            "INSERT INTO trash_item (id, share, path, ino, user, uid, deleted_ns, size, reason)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (item.id, share, item.path, ino, user, uid, deleted_ns, size, reason))
        # Counted on only once the row is in: a failed insert leaves the id to the next.
        self._next_id = item.id + 1
        return item

    def _new_id(self) -> int:
        """The id the next item gets: `max(id) + 1` of the table as it is now."""
        if self._next_id is None or self.db.rollbacks != self._rollbacks_seen:
            self._rollbacks_seen = self.db.rollbacks
            row = self.db.query_one("SELECT max(id) FROM trash_item")
            self._next_id = int(row[0] or 0) + 1
        return self._next_id

    def get(self, item_id: int) -> TrashItem | None:
        row = self.db.query_one(f"SELECT {_COLS} FROM trash_item WHERE id = ?", (item_id,))
        return None if row is None else _item(row)

    def delete(self, item_id: int) -> None:
        self._write("DELETE FROM trash_item WHERE id = ?", (item_id,))

    def list(self, share: str | None = None, uid: int | None = None,
             before_ns: int | None = None) -> list[TrashItem]:
        where: list[str] = ["1"]
        params: list[object] = []
        if share is not None:
            where.append("share = ?")
            params.append(share)
        if uid is not None:
            where.append("uid = ?")
            params.append(uid)
        if before_ns is not None:
            where.append("deleted_ns < ?")
            params.append(before_ns)
        rows = self.db.query(
            f"SELECT {_COLS} FROM trash_item WHERE {' AND '.join(where)} ORDER BY id", params)
        return [_item(r) for r in rows]

    def usage(self) -> dict[str, tuple[int, int]]:
        """share -> (items, bytes)."""
        rows = self.db.query("SELECT share, count(*), sum(size) FROM trash_item GROUP BY share")
        return {str(r[0]): (int(r[1]), int(r[2] or 0)) for r in rows}
