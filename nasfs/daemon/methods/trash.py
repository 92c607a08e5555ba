"""Control methods `trash.*` (list, restore, purge, usage) and the daemon's
`trash-retention` job. They run on the trio thread: the trash lives in fs.db, whose
connection belongs to that thread."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nasfs.daemon.control import MethodTable, Request
from nasfs.daemon.trash_retention import purge_expired
from nasfs.errors import BadParams, NasfsError
from nasfs.policy.auditstore import LogEntry
from nasfs.policy.service import process_name
from nasfs.trash import Trash
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0


class TrashUnavailable(NasfsError):
    """The daemon has no filesystem open (not mounted), so it has no trash to manage."""

    wire_code = codes.TRASH_UNAVAILABLE


def _int(params: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = params.get(key)
    if value is None:
        if required:
            raise BadParams(f"parameter {key!r} is required")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadParams(f"parameter {key!r} must be a non-negative integer")
    return value


def register(table: MethodTable, daemon: DaemonHost) -> None:
    array = daemon.array

    def trash() -> Trash:
        if array.volume is None:
            raise TrashUnavailable("the array is not mounted, so there is no trash to manage")
        return array.volume.trash

    def record(request: Request, operation: str, share: str, path: bytes,
               second: bytes | None = None, nbytes: int | None = None,
               detail: str | None = None) -> None:
        policy = array.policy
        who = policy.identity_for(request.peer.uid, request.peer.gid)
        entry = LogEntry(operation, user=who.name, uid=request.peer.uid, pid=request.peer.pid,
                         process=process_name(request.peer.pid), share=share, path=path,
                         second_path=second, bytes=nbytes, admin=True, detail=detail)
        if policy.audit is None or not policy.audit.record_nowait(entry):
            policy.log_system([entry])

    async def list_items(request: Request) -> Any:
        p = request.params
        uid = _int(p, "uid")
        user = p.get("user")
        if user is not None:
            known = array.policy.snapshot.users.get(user)
            if known is None:
                raise BadParams(f"there is no user {user}")
            uid = known.uid
        items = trash().items(p.get("share"), uid)
        return {"items": [i.to_json() for i in items]}

    async def usage(request: Request) -> Any:
        t = trash()
        return {"shares": {share: {"items": n, "bytes": b}
                           for share, (n, b) in sorted(t.usage().items())}}

    async def restore(request: Request) -> Any:
        item_id = _int(request.params, "id", required=True)
        assert item_id is not None
        to = request.params.get("to")
        to_share = to_path = None
        if to is not None:
            share, _, rest = str(to).strip("/").partition("/")
            if not share or not rest:
                raise BadParams("'to' must be a path SHARE/FOLDER.../NAME")
            if array.policy.share(share) is None:
                raise BadParams(f"there is no share {share}")
            to_share, to_path = share, ("/" + rest).encode("utf-8", "surrogateescape")
        done = trash().restore(item_id, to_path, to_share)
        if array.volume is not None:  # the kernel may cache these names as absent
            for parent, name in (*done.made, (done.parent, done.name)):
                await array.volume.gate.forget_now(parent, name)
        record(request, "restore", done.item.share, done.item.path, done.path,
               done.item.size, f"trash #{item_id}")
        return {"item": done.item.to_json(), "share": to_share or done.item.share,
                "path": done.path.decode("utf-8", "surrogateescape")}

    async def purge(request: Request) -> Any:
        item_id = _int(request.params, "id")
        days = request.params.get("older_than_days")
        t = trash()
        if item_id is not None:
            items = [t.purge(item_id)]
        elif isinstance(days, int | float) and not isinstance(days, bool) and days >= 0:
            items = t.purge_older_than(float(days), request.params.get("share"))
        else:
            raise BadParams("give 'id' or a non-negative 'older_than_days'")
        if items and array.volume is not None:
            # Durable before it is answered (a purge must not come back after a crash), and
            # the freed chunks become dead space the reclaimer gives back at once.
            await array.volume.fs.commit()
            daemon.jobs.poke("reclaim")
        for item in items:
            record(request, "purge", item.share, item.path, nbytes=item.size,
                   detail=f"trash #{item.id}")
        return {"purged": [i.to_json() for i in items]}

    async def retention() -> None:
        if array.volume is not None:
            purge_expired(array.volume.trash, array.policy)

    table.add("trash.list", list_items)
    table.add("trash.usage", usage)
    table.add("trash.restore", restore)
    table.add("trash.purge", purge)
    daemon.jobs.add("trash-retention", RETENTION_INTERVAL_S, retention)
