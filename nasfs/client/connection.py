"""A blocking connection to a daemon's control socket: send a request, read its answer.

Synchronous on purpose: the CLI is synchronous and the console (asyncio) calls it from
worker threads. One request is in flight per connection at a time; a lock makes a single
Connection safe to share between threads (calls are serialised).
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasfs.errors import NasfsError
from nasfs.wire import codes, protocol

log = logging.getLogger(__name__)

ProgressHandler = Callable[[dict[str, Any]], None]


class DaemonNotRunning(NasfsError):
    """No daemon answers on the control socket (none started, or it stopped)."""

    wire_code = codes.DAEMON_NOT_RUNNING
    exit_code = 3


class DaemonError(NasfsError):
    """The daemon answered a request with an error; `code` is the protocol's error code."""

    wire_code = codes.DAEMON

    def __init__(self, code: str, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        if exit_code is not None:
            # The daemon's own classification (nasfs.exitcodes), e.g. 2 for bad arguments.
            self.exit_code = exit_code


class DaemonGone(NasfsError):
    """The daemon closed the connection before it answered."""

    wire_code = codes.DAEMON_GONE


class DaemonTimeout(NasfsError):
    """The daemon did not answer within the call's time limit (it may be stuck)."""

    wire_code = codes.DAEMON_TIMEOUT


class Connection:
    """An open control connection. Use `nasfs.client.Client` for typed calls."""

    def __init__(self, sock: socket.socket, path: Path) -> None:
        self._sock = sock
        self.path = path
        self._buffer = protocol.LineBuffer()
        self._lines: list[bytes] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, not_running_hint: str) -> Connection:
        """Connect to the socket at `path`; DaemonNotRunning (with the hint) if nobody listens."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise DaemonNotRunning(not_running_hint) from None
        except PermissionError:
            sock.close()
            raise DaemonError(
                codes.PERMISSION_DENIED,
                f"only root may use the nasfs control socket {path}",
            ) from None
        except OSError as exc:
            sock.close()
            raise DaemonNotRunning(f"cannot reach the control socket {path} ({exc.strerror}); "
                                   f"{not_running_hint}") from None
        return cls(sock, path)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self, method: str, params: dict[str, Any] | None = None, *,
        on_progress: ProgressHandler | None = None, timeout: float | None = None,
    ) -> Any:
        """Send one request and return its result; progress lines go to `on_progress`.

        `timeout` bounds the wait for each line of the answer (None: wait as long as it
        takes, for jobs). Raises DaemonError for an error answer, DaemonGone if the
        connection drops first, DaemonTimeout when the daemon stays silent too long.
        """
        with self._lock:
            self._sock.settimeout(timeout)
            try:
                return self._call_locked(method, params, on_progress)
            except TimeoutError:
                # The answer may still come later and would confuse the next call.
                self._sock.close()
                raise DaemonTimeout(f"the nasfs daemon did not answer '{method}' within "
                                    f"{timeout:g} seconds; it may be stuck (see its log)"
                                    ) from None

    def _call_locked(
        self, method: str, params: dict[str, Any] | None,
        on_progress: ProgressHandler | None,
    ) -> Any:
        request_id = next(self._ids)
        data = protocol.encode_message(protocol.request(request_id, method, params or {}))
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise DaemonGone(f"the nasfs daemon went away before '{method}' was sent "
                             f"({exc.strerror})") from None
        while True:
            message = self._read_message(method)
            if message.get("id") not in (request_id, None):
                log.warning("control reply for unknown request %r dropped", message.get("id"))
                continue
            if "progress" in message:
                if on_progress is not None:
                    on_progress(message["progress"])
                continue
            if "error" in message:
                err = message["error"]
                code = err.get("exit")
                raise DaemonError(str(err.get("code")), str(err.get("message")),
                                  code if isinstance(code, int) and 0 < code < 126 else None)
            if "result" in message and message.get("id") == request_id:
                return message["result"]
            log.warning("unexpected control message dropped: %r", message)

    def _read_message(self, method: str) -> dict[str, Any]:
        while not self._lines:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as exc:
                data = b""
                log.debug("control socket read failed: %s", exc)
            if not data:
                raise DaemonGone(f"the nasfs daemon closed the connection before answering "
                                 f"'{method}' (it may have stopped; see its log)")
            self._lines.extend(line for line in self._buffer.feed(data) if line.strip())
        line = self._lines.pop(0)
        try:
            message = json.loads(line)
        except ValueError:
            raise DaemonGone(f"the nasfs daemon sent a malformed reply to '{method}'") from None
        if not isinstance(message, dict):
            raise DaemonGone(f"the nasfs daemon sent a malformed reply to '{method}'")
        return message
