"""Control methods `smb.status` and `smb.sessions`, and the wiring of the daemon's Samba service
(nasfs.smb.service): smbd runs over the mount while the setting `smb.enabled` is on.
`nasfs smb enable|disable` are `settings.set smb.enabled yes|no`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.control import MethodTable, Request
from nasfs.fs.snapshots import SnapshotInfo
from nasfs.smb.service import SmbService
from nasfs.smb.version_views import Moment

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost


def register(table: MethodTable, daemon: DaemonHost) -> None:
    smb = SmbService(daemon.array.policy, daemon.mountpoint)
    daemon.smb = smb
    volume = daemon.array.volume
    if volume is not None:  # Previous Versions follow the snapshots
        def changed(snapshots: list[SnapshotInfo]) -> None:
            smb.snapshots_changed([Moment(s.id, s.name, s.created_ns, s.policy_state)
                                   for s in snapshots])

        volume.snapshots.on_changed.append(changed)
        changed(volume.snapshots.list(sizes=False))

    async def status(request: Request) -> Any:
        return await trio.to_thread.run_sync(smb.status)

    async def sessions(request: Request) -> Any:
        return {"sessions": await trio.to_thread.run_sync(smb.sessions)}

    table.add("smb.status", status)
    table.add("smb.sessions", sessions)
