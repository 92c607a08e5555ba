"""Tables of the trash, a migration set of its own inside `fs.db` (passed to
`Filesystem.open(extra_migrations=...)`), so an item and the move of its inode commit in
the same transaction.

Every trashed inode is linked, under its item id in decimal, in one directory that no path
reaches (`meta.trash_dir`, see `Filesystem.make_unnamed_dir`). Its extents keep their store
references, so compaction keeps the data until the item is purged.
"""

from __future__ import annotations

import logging

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

log = logging.getLogger(__name__)

TRASH_MIGRATIONS = Migrations("nasfs.trash")

# Key in fs.db's meta table naming the unnamed directory that holds trashed inodes.
TRASH_DIR_KEY = "trash_dir"


@TRASH_MIGRATIONS()
def m001_trash_items(db: Database) -> None:
    """One row per trashed thing."""
    db.execute(
        """
        CREATE TABLE trash_item (
            id         INTEGER PRIMARY KEY,  -- item id; also its entry name in the trash dir
            share      TEXT NOT NULL,        -- share it was deleted from
            path       BLOB NOT NULL,        -- original path inside the share, bytes, with a
                                             -- leading '/', e.g. b'/reports/q3.xlsx'
            ino        INTEGER NOT NULL,     -- the trashed inode (linked in the trash dir)
            user       TEXT,                 -- NAS user who deleted it; NULL for guests
            uid        INTEGER NOT NULL,     -- uid of the deleting request
            deleted_ns INTEGER NOT NULL,     -- when, ns since the epoch (policy clock, UTC)
            size       INTEGER NOT NULL,     -- st_size at deletion, bytes
            reason     TEXT NOT NULL         -- 'unlink' | 'replaced' (rename over it) |
                                             -- 'truncated' (O_TRUNC or truncate to 0)
        )
        """
    )
    db.execute("CREATE INDEX trash_by_share ON trash_item (share, deleted_ns)")


@TRASH_MIGRATIONS()
def m002_trash_entries_are_no_links(db: Database) -> None:
    """Entries in the trash directory stopped counting in st_nlink (a trashed file shows
    nlink 0, as any deleted file): lower the counts that arrays made before still hold.
    Live rows are changed in place, so snapshots taken before show the new count too."""
    trash_dir = "(SELECT value FROM meta WHERE key = 'trash_dir')"
    db.execute(
        "UPDATE inode SET nlink = nlink - (SELECT count(*) FROM dentry d"
        f" WHERE d.ino = inode.id AND d.died IS NULL AND d.parent = {trash_dir})"
        " WHERE died IS NULL AND (mode & 61440) != 16384 AND id IN"
        f" (SELECT ino FROM dentry WHERE died IS NULL AND parent = {trash_dir})")
