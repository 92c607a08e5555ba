"""The manifest of a generation: every regular file in it, with size, mtime and BLAKE3.

Which files: those the generation holds (listed at the destination after the copy, so the
include/exclude filters are exactly rsync's). Where the digests come from:

- a destination on this box (USB disk, folder): the copy just written (`build_local`;
  still in the page cache, so cheap; most of them read while rsync copied the next files,
  nasfs.backup.hash_behind, and used only when the file is still the inode that was
  read); with the job's `verify` option they are also compared with digests of the
  source, which catches a bad copy before it is accepted;
- another box, the cloud: the **source** (the snapshot the run copied from, `build`).

Either way a file whose size and mtime equal the previous manifest's entry reuses that
digest (the quick check rsync itself uses), so an unchanged run reads nothing. `verify`
re-reads the destination and compares with the manifest: it finds later rot.

Format: one JSON object per line, `{"path", "size", "mtime_ns", "blake3"}`, sorted by path;
the first line is `{"nasfs_manifest": 1, "generation": STAMP, "xattrs": BOOL, "snapshot":
NAME, "setup": TEXT}` ("xattrs": whether the source had extended attributes; "snapshot": the
snapshot the generation holds, kept as the next run's base; "setup": what the job copied
with; each absent in older manifests, the last two on destinations without hard links).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import blake3

CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    mtime_ns: int
    blake3: str


@dataclass(frozen=True)
class Hashed:
    """A digest taken earlier (while rsync copied: nasfs.backup.hash_behind) and the
    state of the inode it was read from."""

    key: tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns
    blake3: str


def state_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def digest(f: IO[bytes]) -> tuple[str, int]:
    h = blake3.blake3(max_threads=1)
    n = 0
    while True:
        block = f.read(CHUNK)
        if not block:
            return h.hexdigest(), n
        n += len(block)
        h.update(block)


def build(source: Path, files: Iterable[tuple[str, int]], previous: dict[str, Entry],
          cancelled: Callable[[], bool] = lambda: False) -> list[Entry]:
    """Entries for `files` (paths in the generation), digests from `source`."""
    entries = []
    for path, _ in sorted(files):
        if cancelled():
            raise InterruptedError("cancelled")
        src = source / path
        st = os.stat(src, follow_symlinks=False)
        old = previous.get(path)
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            entries.append(old)
            continue
        with open(src, "rb") as f:
            hexdigest, _ = digest(f)
        entries.append(Entry(path, st.st_size, st.st_mtime_ns, hexdigest))
    return entries


def build_local(folder: Path, files: Iterable[tuple[str, int, int]],
                previous: dict[str, Entry],
                cancelled: Callable[[], bool] = lambda: False,
                hashed: Mapping[str, Hashed] | None = None) -> list[Entry]:
    """Entries for `files` ((path, size, mtime_ns) as listed in `folder`, one lstat each),
    digests from the generation's own copies in `folder`: those `hashed` during the copy
    (nasfs.backup.hash_behind) where the file is still exactly the inode, size, mtime and
    ctime that was read, else read now."""
    entries = []
    for path, size, mtime_ns in sorted(files):
        if cancelled():
            raise InterruptedError("cancelled")
        old = previous.get(path)
        if old is not None and old.size == size and old.mtime_ns == mtime_ns:
            entries.append(old)
            continue
        early = hashed.get(path) if hashed else None
        if early is not None:
            try:
                st = os.lstat(folder / path)
            except FileNotFoundError:
                st = None
            if st is not None and state_key(st) == early.key:
                entries.append(Entry(path, st.st_size, st.st_mtime_ns, early.blake3))
                continue
        with open(folder / path, "rb") as f:
            st = os.fstat(f.fileno())
            hexdigest, _ = digest(f)
        entries.append(Entry(path, st.st_size, st.st_mtime_ns, hexdigest))
    return entries


def differences(copied: Iterable[Entry], source: Path, previous: dict[str, Entry],
                cancelled: Callable[[], bool] = lambda: False) -> list[str]:
    """Paths whose copy does not match the source (for verify-after-copy of a local
    generation; files reused from the previous manifest are compared too)."""
    entries = list(copied)
    want = {e.path: e for e in build(source, [(e.path, e.size) for e in entries], {},
                                     cancelled)}
    return [e.path for e in entries if want[e.path].blake3 != e.blake3
            or want[e.path].size != e.size]


def dumps(generation: str, entries: Iterable[Entry], *, xattrs: bool | None = None,
          snapshot: str | None = None, setup: str | None = None) -> str:
    """The manifest's text; `xattrs` says whether the generation was copied from a source
    with extended attributes (None: not known, as in manifests before it was recorded);
    `snapshot` names the snapshot it holds (kept as the next run's base) and `setup` what
    it was copied with (nasfs.backup.incremental.setup)."""
    head: dict[str, object] = {"nasfs_manifest": 1, "generation": generation}
    if xattrs is not None:
        head["xattrs"] = xattrs
    if snapshot is not None:
        head["snapshot"] = snapshot
    if setup is not None:
        head["setup"] = setup
    lines = [json.dumps(head)]
    lines += [json.dumps(e.__dict__, ensure_ascii=False, separators=(",", ":"))
              for e in entries]
    return "\n".join(lines) + "\n"


def head(text: str | None) -> dict[str, object]:
    """The manifest's first line ({} for none, or one that is not an object)."""
    if not text:
        return {}
    first = json.loads(text.split("\n", 1)[0])
    return first if isinstance(first, dict) else {}


def had_xattrs(text: str | None) -> bool | None:
    """What the manifest's first line says of extended attributes (None: not recorded)."""
    if not text:
        return None
    head = json.loads(text.split("\n", 1)[0])
    value = head.get("xattrs") if isinstance(head, dict) else None
    return value if isinstance(value, bool) else None


def loads(text: str | None) -> dict[str, Entry]:
    if not text:
        return {}
    out = {}
    for line in text.splitlines()[1:]:
        if line.strip():
            d = json.loads(line)
            out[d["path"]] = Entry(d["path"], int(d["size"]), int(d["mtime_ns"]),
                                   d["blake3"])
    return out


@dataclass(frozen=True)
class Report:
    files: int
    bytes: int
    missing: list[str]
    changed: list[str]  # size or content differs from the manifest
    extra: list[str]  # in the generation, not in the manifest

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra)

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "files": self.files, "bytes": self.bytes,
                "missing": self.missing, "changed": self.changed, "extra": self.extra}


def verify(entries: dict[str, Entry], present: Iterable[tuple[str, int]],
           open_file: Callable[[str], IO[bytes]],
           cancelled: Callable[[], bool] = lambda: False) -> Report:
    """Re-read every file of a generation and compare it with its manifest."""
    seen = dict(present)
    missing = sorted(p for p in entries if p not in seen)
    extra = sorted(p for p in seen if p not in entries)
    changed = []
    total = files = 0
    for path, entry in sorted(entries.items()):
        if path not in seen:
            continue
        if cancelled():
            raise InterruptedError("cancelled")
        if seen[path] != entry.size:
            changed.append(path)
            continue
        try:
            with open_file(path) as f:
                hexdigest, n = digest(f)
        except OSError:
            missing.append(path)
            continue
        files += 1
        total += n
        if hexdigest != entry.blake3 or n != entry.size:
            changed.append(path)
    return Report(files, total, sorted(missing), changed, extra)
