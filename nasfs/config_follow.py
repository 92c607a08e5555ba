"""After a rebuild onto a new directory, the member list follows the new disk.

A rebuild makes NEWDIR the array's disk N; the config file (and the daemon's record) still
name the old directory, so the next mount would come up degraded, with the new disk left
out. `followed_members` says what the list becomes: the entry that stood for disk N (a
stale copy of it, or a directory that is gone or empty) is replaced by NEWDIR, in place;
with no such entry NEWDIR is added. `follow_config_file` applies that to the file, as a
one-string edit that keeps the administrator's comments and layout (the whole file is
rewritten only when the string cannot be found once), atomically, and only when the file
lists this very array. Stored paths are absolute.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import tomli_w

from nasfs.store.errors import AssemblyError
from nasfs.store.label import read_label

log = logging.getLogger(__name__)


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _slot_of(path: Path) -> int | None:
    try:
        label = read_label(path) if path.is_dir() else None
    except (AssemblyError, OSError, ValueError):
        return None
    return None if label is None else label.index


def followed_members(members: Sequence[Path], index: int, onto: Path,
                     present: Mapping[int, Path]) -> list[Path] | None:
    """The member list with `onto` standing for disk `index`; None when it already does.

    `present` is where each current member lives (after the rebuild, `onto` among them).
    """
    members = [Path(m) for m in members]
    if any(_same(m, onto) for m in members):
        return None
    current = [p for i, p in present.items() if i != index]
    stand_ins = [i for i, m in enumerate(members) if not any(_same(m, p) for p in current)]
    # Best: the old disk N itself (stale now); else a directory that is gone or unlabelled.
    chosen = next((i for i in stand_ins if _slot_of(members[i]) == index), None)
    if chosen is None:
        chosen = next((i for i in stand_ins if _slot_of(members[i]) is None), None)
    result = list(members)
    if chosen is None:
        result.append(onto)
    else:
        result[chosen] = onto
    return result


def follow_config_file(path: Path, array_uuid: str, index: int, onto: Path,
                       present: Mapping[int, Path]) -> str | None:
    """Make the config file at `path` name `onto` for disk `index`; a note of what changed,
    or None when nothing had to (or could safely) change."""
    from nasfs.store.identify import array_uuid as uuid_of

    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("config file %s not updated after the rebuild: %s", path, exc)
        return None
    raw = doc.get("array", {}).get("members")
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        return None
    base = path.parent.absolute()
    listed = [base / m for m in raw]
    try:
        if uuid_of(listed) != array_uuid:
            return None  # the file describes another array: not ours to edit
    except AssemblyError:
        return None
    new = followed_members(listed, index, Path(onto).absolute(), present)
    if new is None:
        return None
    replaced = next((i for i, (a, b) in enumerate(zip(listed, new, strict=False)) if a != b),
                    None)
    new_raw = [*raw, str(new[-1])] if replaced is None else [
        str(new[i]) if i == replaced else m for i, m in enumerate(raw)]
    updated = _edit_in_place(text, raw[replaced], str(new[replaced])) \
        if replaced is not None else None
    if updated is None or tomllib.loads(updated).get("array", {}).get("members") != new_raw:
        doc["array"]["members"] = new_raw
        updated = tomli_w.dumps(doc)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(updated, encoding="utf-8")
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("config file %s not updated after the rebuild: %s", path, exc)
        return None
    old = raw[replaced] if replaced is not None else None
    return (f"{path}: disk {index + 1} is now {onto}" + (f" (was {old})" if old else ""))


def _edit_in_place(text: str, old: str, new: str) -> str | None:
    """`text` with the one TOML string literal `old` replaced by `new`, or None."""
    for literal in (json.dumps(old, ensure_ascii=False), f"'{old}'"):
        if text.count(literal) == 1:
            return text.replace(literal, json.dumps(new, ensure_ascii=False))
    return None
