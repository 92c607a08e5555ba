"""Snapshot methods on an array that no daemon runs: opened on its disks, under the array
lock (so it can never race a daemon that is starting), one call per opening.

Safe because nothing else writes the array meanwhile. Snapshots taken offline carry no
policy state (the policy databases are not consulted).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from nasfs.config import Config
from nasfs.snapshots import api

log = logging.getLogger(__name__)


class OfflineSnapshots:
    """`call(method, params)` on the array of `config`, as nasfs.client.Client does."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        from nasfs import registry
        from nasfs.store import Store
        from nasfs.store.assembly import assemble

        members = [Path(m) for m in self.config.members]
        uuid = assemble(members).label.array_uuid
        with registry.ArrayLock.acquire(self.config.run_dir, uuid, f"nasfs {method}",
                                        what=f"array {uuid}"):
            store = Store.open(members)
            try:
                return trio.run(_call, store, method, params or {})
            finally:
                store.close()


async def _call(store: Any, method: str, params: dict[str, Any]) -> Any:
    from nasfs.fs import Filesystem

    fs = Filesystem.open(store)
    try:
        return await api.call(fs, method, params)
    finally:
        await fs.close()
