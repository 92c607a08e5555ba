"""The control socket server: newline-delimited JSON requests dispatched to named methods.

The server knows nothing about arrays. Methods live in a `MethodTable` filled by modules that
each contribute a group (see `nasfs.daemon.methods`), so later features add methods without
touching this file. Only root (and the daemon's own uid) may connect: the socket file is mode
0600 and every connection's peer credentials (SO_PEERCRED) are checked as well.

Each request runs in its own task, so a long scrub on one connection does not block `status`
on the same or another connection. If the client goes away while a request runs, the request
still finishes (a half-done scrub is worse than an unwatched one); its replies are dropped.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from nasfs.errors import NasfsError
from nasfs.params import REQUIRED, param
from nasfs.wire import codes, protocol

log = logging.getLogger(__name__)

Handler = Callable[["Request"], Awaitable[Any]]


# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107


class SocketPathTooLong(NasfsError):
    """The control socket's path does not fit in a Unix socket address."""

    wire_code = codes.SOCKET_PATH_TOO_LONG


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a connection, from the kernel (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: trio.socket.SocketType) -> Peer:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Peer(pid, uid, gid)


class Request:
    """One call being served: its method, params, who asked, and a way to report progress."""

    def __init__(
        self, connection: _Connection, request_id: protocol.RequestId, method: str,
        params: dict[str, Any],
    ) -> None:
        self._connection = connection
        self.id = request_id
        self.method = method
        self.params = params
        self.peer = connection.peer

    async def progress(self, value: dict[str, Any]) -> None:
        """Send one progress line for this request (dropped if the client has gone)."""
        await self._connection.send(protocol.progress(self.id, value))

    def param(self, name: str, kind: type | tuple[type, ...], default: Any = REQUIRED) -> Any:
        """The param `name`, checked to be of `kind` (nasfs.params: the one rule, also for
        null); BadParams when missing or mistyped."""
        return param(self.params, self.method, name, kind, default)


class MethodTable:
    """Method name → handler. Handlers are `async def handler(request) -> JSON value`."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, handler: Handler) -> None:
        if name in self._handlers:
            raise ValueError(f"control method {name!r} is registered twice")
        self._handlers[name] = handler

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)


class _Connection:
    def __init__(self, stream: trio.SocketStream, peer: Peer) -> None:
        self.stream = stream
        self.peer = peer
        self._send_lock = trio.Lock()
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        data = protocol.encode_message(message)
        async with self._send_lock:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.closed = True


class ControlServer:
    """Serves a MethodTable on a Unix socket at `path` until cancelled."""

    def __init__(
        self, path: Path, methods: MethodTable, *, allowed_uids: Iterable[int] | None = None,
    ) -> None:
        self.path = path
        self.methods = methods
        self.allowed_uids = frozenset(allowed_uids if allowed_uids is not None
                                      else {0, os.geteuid()})
        self._in_flight = 0
        self._idle = trio.Event()
        self._idle.set()
        self.accepting = True

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind the socket (replacing a stale one), report started, serve until cancelled.

        The socket file is removed again when serving stops.
        """
        listener = await self._bind()
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                await trio.serve_listeners(self._handle_connection, [listener],
                                           handler_nursery=nursery)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def wait_idle(self) -> None:
        """Return when no request is being served (used to let a reply go out at shutdown)."""
        while self._in_flight:
            self._idle = trio.Event()
            await self._idle.wait()

    async def _bind(self) -> trio.SocketListener:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bind under a temporary name, restrict it, then rename into place: the socket is
        # never reachable with looser permissions, and a stale socket from a killed daemon
        # is simply replaced (the caller holds the array lock, so it cannot be a live one).
        tmp = self.path.with_name(f".bind-{os.getpid()}")
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH or len(os.fsencode(tmp)) > (
                MAX_SOCKET_PATH):
            raise SocketPathTooLong(
                f"control socket path {self.path} is too long for a Unix socket (at most "
                f"{MAX_SOCKET_PATH} bytes); choose a shorter [daemon] run_dir or socket")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        await sock.bind(str(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        sock.listen(16)
        return trio.SocketListener(sock)

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        try:
            peer = peer_credentials(stream.socket)
        except OSError as exc:
            log.warning("control connection without peer credentials: %s", exc)
            await stream.aclose()
            return
        connection = _Connection(stream, peer)
        if peer.uid not in self.allowed_uids:
            log.warning("refused control connection from uid %d (pid %d)", peer.uid, peer.pid)
            await connection.send(protocol.error(
                None, codes.PERMISSION_DENIED,
                f"only root may use the nasfs control socket (you are uid {peer.uid})"))
            await _hang_up(stream)
            return
        buffer = protocol.LineBuffer()
        try:
            async with trio.open_nursery() as requests:
                while True:
                    try:
                        data = await stream.receive_some(65536)
                    except (trio.BrokenResourceError, OSError):
                        break
                    if not data:
                        break
                    try:
                        lines = buffer.feed(data)
                    except ValueError as exc:
                        await connection.send(protocol.error(
                            None, codes.MESSAGE_TOO_LONG, str(exc)))
                        await _hang_up(stream)
                        break
                    for line in lines:
                        if line.strip():
                            self._start_request(requests, connection, line)
        finally:
            connection.closed = True
            with trio.CancelScope(shield=True):
                await stream.aclose()

    def _start_request(self, nursery: trio.Nursery, connection: _Connection, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            nursery.start_soon(connection.send, protocol.error(
                None, codes.PARSE_ERROR, f"the request is not valid JSON: {exc}"))
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        if not isinstance(request_id, int | str) or isinstance(request_id, bool):
            request_id = None
        problem = _request_problem(message)
        if problem:
            nursery.start_soon(connection.send,
                               protocol.error(request_id, codes.BAD_REQUEST, problem))
            return
        request = Request(connection, request_id, message["method"], message.get("params") or {})
        self._in_flight += 1
        nursery.start_soon(self._run_request, request)

    async def _run_request(self, request: Request) -> None:
        try:
            reply = await self._dispatch(request)
            await request._connection.send(reply)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _dispatch(self, request: Request) -> dict[str, Any]:
        handler = self.methods.get(request.method)
        if handler is None:
            return protocol.error(
                request.id, codes.UNKNOWN_METHOD,
                f"the daemon has no method '{request.method}' "
                f"(it has: {', '.join(self.methods.names())})")
        if not self.accepting and request.method != "status":
            return protocol.error(request.id, codes.SHUTTING_DOWN,
                                  "the daemon is shutting down")
        log.debug("control request %r %s from pid %d", request.id, request.method,
                  request.peer.pid)
        try:
            value = await _unwrap_group(handler(request))
        except NasfsError as exc:  # BadParams among them (code bad_params, exit 2)
            return protocol.error(request.id, exc.wire_code, str(exc),
                                  exit_code=exc.exit_code)
        except OSError as exc:
            log.exception("control method %s failed", request.method)
            code = errno.errorcode.get(exc.errno or 0, "EIO").lower()
            return protocol.error(request.id, code, f"{request.method} failed: {exc}")
        except Exception as exc:
            log.exception("control method %s failed", request.method)
            return protocol.error(request.id, codes.INTERNAL,
                                  f"{request.method} failed unexpectedly: {exc!r}")
        return protocol.result(request.id, value)


async def _unwrap_group(call: Awaitable[Any]) -> Any:
    """Await `call`; if it fails with a group holding one exception, raise that one.

    Handlers that use nurseries would otherwise turn a clear NasfsError into "internal".
    """
    try:
        return await call
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if len(leaves) == 1 and isinstance(leaves[0], Exception):
            raise leaves[0] from group
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterable[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


async def _hang_up(stream: trio.SocketStream) -> None:
    """Close after a final error without resetting the connection.

    Closing a Unix socket with unread input makes the peer's next read fail with ECONNRESET
    before it sees our last line; so half-close, and discard what still arrives (briefly).
    """
    with trio.move_on_after(2):
        try:
            await stream.send_eof()
            discarded = 0
            while discarded < 64 * protocol.MAX_MESSAGE_BYTES:
                data = await stream.receive_some(65536)
                if not data:
                    break
                discarded += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await stream.aclose()


def _request_problem(message: object) -> str | None:
    if not isinstance(message, dict):
        return "a request must be a JSON object"
    if not isinstance(message.get("method"), str) or not message["method"]:
        return "a request needs a 'method' string"
    if "id" in message and (
        isinstance(message["id"], bool) or not isinstance(message["id"], int | str | None)
    ):
        return "a request 'id' must be an integer or a string"
    if not isinstance(message.get("params", {}), dict | None):
        return "a request's 'params' must be a JSON object"
    return None
