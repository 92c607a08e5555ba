"""The trash: what unlink, rename-over and overwrite-by-truncation would have thrown away,
kept per share in `fs.db` (metadata only: the inodes move, their data is not copied)."""

from nasfs.trash.repository import TrashItem
from nasfs.trash.schema import TRASH_MIGRATIONS
from nasfs.trash.service import Trash, TrashError

__all__ = ["TRASH_MIGRATIONS", "Trash", "TrashError", "TrashItem"]
