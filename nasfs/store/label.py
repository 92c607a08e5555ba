"""Member labels: `MEMBER/nasfs/label.json`, written atomically, read back and validated.

A label says which array a directory belongs to, at which index, with which geometry, and
the array generation it last saw. Every member carries the UUIDs of all members so that an
old disk of a slot that was since rebuilt onto a new disk is recognised.

Lineage (format 2): every membership change (members found missing at a degraded open, a
member failed, a rebuild finished, a side chosen after a split) starts a new *epoch* with
a fresh id, and the label keeps the ids of the epochs before it (`history`). Two labels
whose epochs are each absent from the other's history come from halves of the array that
were used apart; one whose epoch is in the other's history missed that change (stale).
See nasfs.store.lineage.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nasfs.durable import fsync_dir
from nasfs.store.errors import AssemblyError
from nasfs.store.member import LABEL_NAME, NASFS_DIR, MemberRoot

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
MAX_HISTORY = 256  # epochs remembered; a member behind by more looks like a split (refused)


@dataclass(frozen=True)
class ArrayLabel:
    """The contents of one member's label.json."""

    array_uuid: str
    member_uuid: str
    index: int
    member_count: int
    nparity: int
    members: tuple[str, ...]  # member UUID of every slot, by index
    generation: int
    failed: tuple[int, ...] = ()  # slots known to have missed writes (need a rebuild)
    epoch: str = ""  # id of the membership epoch this label was written in
    history: tuple[str, ...] = ()  # ids of the epochs before it, oldest first
    epoch_started: float = 0.0  # when the epoch began (Unix time), to tell sides apart
    segment_bytes: int = 256 << 20  # roll to a new segment file past this size per member
    max_shard_bytes: int = 1 << 20
    format: int = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def data_shards(self) -> int:
        return self.member_count - self.nparity

    def for_member(self, index: int) -> ArrayLabel:
        return replace(self, index=index, member_uuid=self.members[index])

    def next_epoch(self, **changes: Any) -> ArrayLabel:
        """This label one membership change later: generation + 1, a new epoch."""
        return replace(
            self,
            generation=self.generation + 1,
            epoch=uuid.uuid4().hex,
            history=(*self.history, self.epoch)[-MAX_HISTORY:],
            epoch_started=time.time(),
            **changes,
        )

    def to_json(self) -> str:
        body = asdict(self)
        body["members"] = list(self.members)
        body["failed"] = list(self.failed)
        body["history"] = list(self.history)
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> ArrayLabel:
        try:
            body = json.loads(text)
            found = body.get("format")
            if isinstance(found, int) and found < FORMAT_VERSION:
                raise AssemblyError(
                    f"{where} belongs to an array made by an older nasfs (label format "
                    f"{found}); this nasfs reads format {FORMAT_VERSION} only and cannot "
                    "convert it: make a new array with nasfs mkfs and copy the files over"
                )
            if found != FORMAT_VERSION:
                raise AssemblyError(
                    f"{where} has label format {found!r}, this nasfs reads format "
                    f"{FORMAT_VERSION} (a newer nasfs made it?)"
                )
            return cls(
                array_uuid=str(body["array_uuid"]),
                member_uuid=str(body["member_uuid"]),
                index=int(body["index"]),
                member_count=int(body["member_count"]),
                nparity=int(body["nparity"]),
                members=tuple(str(m) for m in body["members"]),
                generation=int(body["generation"]),
                failed=tuple(int(i) for i in body.get("failed", [])),
                epoch=str(body["epoch"]),
                history=tuple(str(e) for e in body["history"]),
                epoch_started=float(body["epoch_started"]),
                segment_bytes=int(body["segment_bytes"]),
                max_shard_bytes=int(body["max_shard_bytes"]),
                format=int(body["format"]),
                extra={str(k): str(v) for k, v in body.get("extra", {}).items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AssemblyError(f"{where} has an unreadable nasfs label ({exc})") from exc


def nasfs_dir(member: Path) -> Path:
    return member / NASFS_DIR


def label_path(member: Path) -> Path:
    return member / NASFS_DIR / LABEL_NAME


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync it, rename over `path`, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_label(member: Path, label: ArrayLabel) -> None:
    """Write the label of a member whose folders mkfs or rebuild just made (by path)."""
    # No mkdir here: a folder that is missing means the member is gone, and recreating it
    # would plant an array member on whatever disk now holds the path.
    write_file_atomic(label_path(member), label.to_json().encode())


def write_label_at(root: MemberRoot, label: ArrayLabel) -> None:
    """Rewrite the label of a running member, inside the folder pinned at assembly."""
    root.write_atomic(LABEL_NAME, label.to_json().encode())


def read_label(member: Path) -> ArrayLabel | None:
    """The member's label, or None when the directory carries none."""
    path = label_path(member)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AssemblyError(f"{member} cannot be read ({exc.strerror})") from exc
    label = ArrayLabel.from_json(text, member)
    if not 0 <= label.index < label.member_count or len(label.members) != label.member_count:
        raise AssemblyError(f"{member} has an inconsistent nasfs label (index {label.index})")
    if label.members[label.index] != label.member_uuid:
        raise AssemblyError(f"{member} has an inconsistent nasfs label (member UUID)")
    return label


def looks_emptied(member: Path) -> bool:
    """True for a directory with no label and nothing but (part of) a nasfs folder in it.

    Such a directory is a member whose contents were lost (or a rebuild target in progress):
    assembly treats it as missing rather than refusing it as a stranger.
    """
    try:
        entries = [e.name for e in os.scandir(member)]
    except OSError:
        return False
    return all(name in (NASFS_DIR, "lost+found") for name in entries)
