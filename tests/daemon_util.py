"""A nasfs daemon in the test's trio loop over a small real array (no mount), and blocking
client calls made in a worker thread over its real control socket. Shared by the daemon's
own tests (test_daemon_service.py) and, through mail_util, the mail, scrub and damage-log
tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
from nasfs.store import Store


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Socket paths are limited to 107 bytes; pytest's tmp_path is too deep for them.
    path = Path(tempfile.mkdtemp(prefix="nasfs-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def members(tmp_path: Path) -> list[Path]:
    """A small single-parity array with some data on it (small segments, small shards)."""
    dirs = [tmp_path / f"disk{i}" for i in range(1, 4)]
    for d in dirs:
        d.mkdir()
    Store.create(dirs, 1, segment_bytes=1 << 20, max_shard_bytes=64 << 10)
    with Store.open(dirs) as store:
        store.put([os.urandom(100_000) for _ in range(8)])
    return dirs


class Running:
    """A daemon in this trio loop (`finished` is set once its run returned), and blocking
    client calls made in a worker thread."""

    def __init__(self, daemon: Daemon, finished: trio.Event) -> None:
        self.daemon = daemon
        self.finished = finished

    async def call(self, fn: Callable[[Client], Any]) -> Any:
        def work() -> Any:
            with Client.connect(self.daemon.socket_path) as client:  # type: ignore[arg-type]
                return fn(client)

        return await trio.to_thread.run_sync(work)

    async def policy(self, fn: Callable[[PolicyClient], Any]) -> Any:
        return await self.call(lambda c: fn(PolicyClient(c)))

    async def settings(self, **values: Any) -> None:
        def apply(p: PolicyClient) -> None:
            for key, value in values.items():
                p.settings_set(key.replace("_", ".", 1), value)

        await self.policy(apply)

    async def system_rows(self, operation: str) -> list[dict[str, Any]]:
        page = await self.policy(lambda p: p.log_query("system", op=operation, limit=1000))
        return list(page.rows)


async def start_daemon(nursery: trio.Nursery, config: Config, *,
                       degraded: bool = False) -> Running:
    """A daemon for `config` started in `nursery`, ready for calls when this returns."""
    daemon = Daemon(DaemonOptions(config, mountpoint=None, degraded=degraded))
    finished = trio.Event()

    async def run(task_status: trio.TaskStatus[None]) -> None:
        try:
            await daemon.run(on_ready=task_status.started)
        finally:
            finished.set()

    await nursery.start(run)
    return Running(daemon, finished)


async def daemon_running(config: Config, *, degraded: bool = False
                         ) -> AsyncIterator[Running]:
    async with trio.open_nursery() as nursery:
        running = await start_daemon(nursery, config, degraded=degraded)
        yield running
        running.daemon.request_shutdown("test finished")


@pytest.fixture
async def running(run_dir: Path, members: list[Path]) -> AsyncIterator[Running]:
    """A daemon serving `members` in the test's trio loop."""
    async for daemon in daemon_running(Config(members=tuple(members), run_dir=run_dir)):
        yield daemon
