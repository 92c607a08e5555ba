"""Metadata databases replicated on every member (see nasfs.db.replicated)."""

from nasfs.db.replicated import (
    DBEvent,
    EventSink,
    MetadataLostError,
    ReplicatedDB,
    WriteFailed,
    copy_database,
)

__all__ = ["DBEvent", "EventSink", "MetadataLostError", "ReplicatedDB", "WriteFailed",
           "copy_database"]
