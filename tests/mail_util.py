"""A real SMTP server on loopback (aiosmtpd's Controller, own thread) that keeps what it
receives, a daemon running in the test's trio loop, and waiting helpers."""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from aiosmtpd.controller import Controller

from nasfs.client import Client
from nasfs.client.policy import PolicyClient
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
from nasfs.store import Store

WAIT_S = 60.0


def free_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """aiosmtpd handler: every message it accepts, parsed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]

    def find(self, text: str) -> email.message.EmailMessage | None:
        with self.lock:
            for m in self.messages:
                if text in str(m["Subject"]):
                    return m
        return None


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Socket paths are limited to 107 bytes; pytest's tmp_path is too deep for them.
    path = Path(tempfile.mkdtemp(prefix="nasfs-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Running:
    """A daemon in this trio loop, and blocking client calls made in a worker thread."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

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
    daemon = Daemon(DaemonOptions(config, mountpoint=None, degraded=degraded))

    async def run(task_status: trio.TaskStatus[None]) -> None:
        await daemon.run(on_ready=task_status.started)

    await nursery.start(run)
    return Running(daemon)


async def daemon_running(config: Config, *, degraded: bool = False
                         ) -> AsyncIterator[Running]:
    async with trio.open_nursery() as nursery:
        running = await start_daemon(nursery, config, degraded=degraded)
        yield running
        running.daemon.request_shutdown("test finished")


async def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check` (sync) until it returns something truthy; fail naming `what`."""
    with trio.move_on_after(timeout):
        while True:
            value = check()
            if value:
                return value
            await trio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


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


@pytest.fixture
async def running(run_dir: Path, members: list[Path]) -> AsyncIterator[Running]:
    """A daemon serving `members` in the test's trio loop."""
    async for daemon in daemon_running(Config(members=tuple(members), run_dir=run_dir)):
        yield daemon
