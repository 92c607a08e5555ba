"""A real SMTP server on loopback (aiosmtpd's Controller, own thread) that keeps what it
receives, and waiting helpers; the daemon in the test's trio loop (run_dir, members,
running, Running, daemon_running) is tests/daemon_util.py's, named here for the tests that
import it from this module."""

from __future__ import annotations

import email
import email.message
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
from aiosmtpd.controller import Controller

from tests.daemon_util import Running, daemon_running, members, run_dir, running

# daemon_util's names are here for the tests that import them from this module.
__all__ = ["WAIT_S", "Inbox", "Running", "daemon_running", "free_port", "members", "run_dir",
           "running", "smtp", "wait_until"]

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


async def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check` (sync) until it returns something truthy; fail naming `what`."""
    with trio.move_on_after(timeout):
        while True:
            value = check()
            if value:
                return value
            await trio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")
