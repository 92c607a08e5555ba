"""The snapshot control methods as one function per method: JSON params in, JSON result out.

The daemon's `nasfs/daemon/methods/snapshots.py` serves them over the control socket; the CLI
calls the very same functions on an array it opened offline (`nasfs.snapshots.offline`).

| method | params | result |
|---|---|---|
| snapshot.create | name?, locked? (false) | snapshot |
| snapshot.list | sizes? (true) | [snapshot] (oldest first) |
| snapshot.delete / lock / unlock | id (number or name) | snapshot |
| snapshot.restore | id, path, to? | {path, ino, files, bytes} |
| snapshot.diff | id, id2? (default: now) | {added, changed, removed} (paths) |
| snapshot.schedule.list | — | [schedule] |
| snapshot.schedule.set | name, cron, keep_* (see nasfs.snapshots.schedule) | schedule |
| snapshot.schedule.del | name | {name} |

Paths are text from the volume root ('docs/a.txt'); bytes that are not UTF-8 travel as
surrogate escapes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nasfs.errors import BadParams
from nasfs.params import param
from nasfs.snapshots import schedule as sched

if TYPE_CHECKING:
    from nasfs.fs.filesystem import Filesystem

log = logging.getLogger(__name__)

METHODS = ("snapshot.create", "snapshot.list", "snapshot.delete", "snapshot.lock",
           "snapshot.unlock", "snapshot.restore", "snapshot.diff", "snapshot.schedule.list",
           "snapshot.schedule.set", "snapshot.schedule.del")
# Methods that change something (the daemon writes a system-log row for them).
CHANGING = frozenset(METHODS) - {"snapshot.list", "snapshot.diff", "snapshot.schedule.list"}


def _path(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape").strip(b"/")


async def call(fs: Filesystem, method: str, params: dict[str, Any], *,
               policy_state: str | None = None) -> Any:
    """Run snapshot method `method` on `fs`. Raises BadParams, NasfsError subclasses."""
    snaps = fs.snapshots

    def snapshot_id(name: str = "id") -> int:
        return snaps.find(param(params, method, name, (int, str)))

    if method == "snapshot.create":
        info = await snaps.create(param(params, method, "name", str, None), policy_state)
        if param(params, method, "locked", bool, False):
            info = await snaps.set_locked(info.id, True)
        return info.to_json()
    if method == "snapshot.list":
        return [s.to_json() for s in snaps.list(sizes=param(params, method, "sizes", bool,
                                                             True))]
    if method == "snapshot.delete":
        return (await snaps.delete(snapshot_id())).to_json()
    if method in ("snapshot.lock", "snapshot.unlock"):
        return (await snaps.set_locked(snapshot_id(), method == "snapshot.lock")).to_json()
    if method == "snapshot.restore":
        sid = snapshot_id()
        path = _path(param(params, method, "path", str))
        to = param(params, method, "to", str, None)
        result = await snaps.restore(sid, path, None if to is None else _path(to))
        return result.to_json()
    if method == "snapshot.diff":
        other = params.get("id2")
        second = None if other is None else snapshot_id("id2")
        return (await snaps.diff(snapshot_id(), second)).to_json()
    if method == "snapshot.schedule.list":
        return [s.to_json() for s in sched.schedules(snaps)]
    if method == "snapshot.schedule.set":
        keep = sched.Retention(*(param(params, method, f, int, None) for f in sched.KEEP_FIELDS))
        made = await sched.set_schedule(snaps, param(params, method, "name", str),
                                        param(params, method, "cron", str), keep)
        return made.to_json()
    if method == "snapshot.schedule.del":
        name = param(params, method, "name", str)
        await sched.delete_schedule(snaps, name)
        return {"name": name}
    raise BadParams(f"there is no snapshot method {method!r}")
