"""The control socket server: framing, dispatch, errors, progress, peer credentials.

The server runs in the test's trio loop on a real Unix socket; clients are the real
`nasfs.client.connection.Connection` in a worker thread or raw sockets for malformed input.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from nasfs.client.connection import Connection, DaemonError, DaemonNotRunning, DaemonTimeout
from nasfs.daemon.control import ControlServer, MethodTable, Request
from nasfs.errors import NasfsError


class Refused(NasfsError):
    # Its own wire code, named explicitly as every NasfsError's is (nasfs.wire.codes).
    wire_code = "refused"


def make_methods() -> MethodTable:
    methods = MethodTable()

    async def echo(request: Request) -> Any:
        return {"params": request.params, "uid": request.peer.uid}

    async def count(request: Request) -> Any:
        upto = request.param("upto", int)
        for i in range(upto):
            await request.progress({"done": i + 1, "total": upto})
        return {"counted": upto}

    async def refuse(request: Request) -> Any:
        raise Refused("the widget is not ready")

    async def crash(request: Request) -> Any:
        raise RuntimeError("boom")

    async def hang(request: Request) -> Any:
        await trio.sleep_forever()

    methods.add("hang", hang)
    methods.add("echo", echo)
    methods.add("count", count)
    methods.add("refuse", refuse)
    methods.add("crash", crash)
    return methods


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(tmp_path / "run" / "test.sock", make_methods())
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.serve)
        yield srv
        nursery.cancel_scope.cancel()


def raw_exchange(path: Path, payload: bytes, replies: int) -> list[dict[str, Any]]:
    """Send raw bytes, read `replies` JSON lines (blocking; run in a thread)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        # The server may hang up early (overlong message); its reply is still there to read.
        with contextlib.suppress(BrokenPipeError):
            sock.sendall(payload)
        data = b""
        while data.count(b"\n") < replies:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(line) for line in data.splitlines()]


def call(path: Path, method: str, params: dict[str, Any] | None = None,
         progress: list[dict[str, Any]] | None = None) -> Any:
    with Connection.open(path, not_running_hint="no daemon") as conn:
        return conn.call(method, params, on_progress=progress.append if progress is not None
                         else None)


async def test_socket_is_private(server: ControlServer) -> None:
    mode = os.stat(server.path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


async def test_call_returns_result(server: ControlServer) -> None:
    result = await trio.to_thread.run_sync(call, server.path, "echo", {"a": [1, "x"]})
    assert result == {"params": {"a": [1, "x"]}, "uid": os.geteuid()}


async def test_progress_lines_precede_result(server: ControlServer) -> None:
    seen: list[dict[str, Any]] = []
    result = await trio.to_thread.run_sync(call, server.path, "count", {"upto": 3}, seen)
    assert result == {"counted": 3}
    assert seen == [{"done": 1, "total": 3}, {"done": 2, "total": 3}, {"done": 3, "total": 3}]


async def test_progress_on_the_wire(server: ControlServer) -> None:
    replies = await trio.to_thread.run_sync(
        raw_exchange, server.path, b'{"id":"j","method":"count","params":{"upto":2}}\n', 3)
    assert replies == [
        {"id": "j", "progress": {"done": 1, "total": 2}},
        {"id": "j", "progress": {"done": 2, "total": 2}},
        {"id": "j", "result": {"counted": 2}},
    ]


async def test_unknown_method(server: ControlServer) -> None:
    with pytest.raises(DaemonError) as info:
        await trio.to_thread.run_sync(call, server.path, "nosuch")
    assert info.value.code == "unknown_method"
    assert "nosuch" in str(info.value) and "echo" in str(info.value)


async def test_nasfs_error_becomes_coded_error(server: ControlServer) -> None:
    with pytest.raises(DaemonError) as info:
        await trio.to_thread.run_sync(call, server.path, "refuse")
    assert info.value.code == "refused"
    assert str(info.value) == "the widget is not ready"


async def test_unexpected_exception_is_internal_and_server_survives(
    server: ControlServer,
) -> None:
    with pytest.raises(DaemonError) as info:
        await trio.to_thread.run_sync(call, server.path, "crash")
    assert info.value.code == "internal"
    assert "boom" in str(info.value)
    assert await trio.to_thread.run_sync(call, server.path, "echo") == {"params": {}, "uid": 0}


async def test_bad_params(server: ControlServer) -> None:
    for params in ({}, {"upto": "3"}, {"upto": True}):
        with pytest.raises(DaemonError) as info:
            await trio.to_thread.run_sync(call, server.path, "count", params)
        assert info.value.code == "bad_params"
        assert "upto" in str(info.value)


@pytest.mark.parametrize(
    ("line", "code", "reply_id"),
    [
        (b"{not json\n", "parse_error", None),
        (b"\xff\xfe\n", "parse_error", None),
        (b"[1,2]\n", "bad_request", None),
        (b'{"id":5}\n', "bad_request", 5),
        (b'{"id":6,"method":""}\n', "bad_request", 6),
        (b'{"id":7,"method":"echo","params":[1]}\n', "bad_request", 7),
        (b'{"id":true,"method":"echo"}\n', "bad_request", None),
    ],
)
async def test_malformed_requests(
    server: ControlServer, line: bytes, code: str, reply_id: object,
) -> None:
    # A good request after the bad one shows the connection stays usable.
    payload = line + b'{"id":99,"method":"echo"}\n'
    replies = await trio.to_thread.run_sync(raw_exchange, server.path, payload, 2)
    bad = next(r for r in replies if r.get("id") != 99)
    assert bad["id"] == reply_id
    assert bad["error"]["code"] == code
    assert bad["error"]["message"]
    assert {"id": 99, "result": {"params": {}, "uid": 0}} in replies


async def test_overlong_line_is_refused(server: ControlServer) -> None:
    replies = await trio.to_thread.run_sync(
        raw_exchange, server.path, b"x" * (2 << 20), 1)
    assert replies[0]["error"]["code"] == "message_too_long"


async def test_several_requests_on_one_connection(server: ControlServer) -> None:
    payload = b"".join(
        json.dumps({"id": i, "method": "echo", "params": {"n": i}}).encode() + b"\n"
        for i in range(20))
    replies = await trio.to_thread.run_sync(raw_exchange, server.path, payload, 20)
    assert sorted(r["id"] for r in replies) == list(range(20))
    assert all(r["result"]["params"] == {"n": r["id"]} for r in replies)


async def test_silent_daemon_times_out(server: ControlServer) -> None:
    def hang() -> None:
        with Connection.open(server.path, not_running_hint="") as conn:
            conn.call("hang", timeout=0.2)

    with pytest.raises(DaemonTimeout, match=r"did not answer 'hang' within 0\.2 seconds"):
        await trio.to_thread.run_sync(hang)


async def test_client_without_daemon(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match="start it, please"):
        Connection.open(tmp_path / "absent.sock", not_running_hint="start it, please")
    # A socket file left behind by a killed daemon: nobody listens.
    stale = tmp_path / "stale.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(stale))
    sock.close()
    with pytest.raises(DaemonNotRunning):
        Connection.open(stale, not_running_hint="start it")


async def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "run" / "x.sock"
    path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    srv = ControlServer(path, make_methods())
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.serve)
        assert await trio.to_thread.run_sync(call, path, "echo") == {"params": {}, "uid": 0}
        nursery.cancel_scope.cancel()
    assert not path.exists()


CLIENT_AS_OTHER_USER = """
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.connect(sys.argv[1])
except PermissionError:
    print("EACCES"); sys.exit(0)
try:
    sock.sendall(b'{"id":1,"method":"echo"}\\n')
except OSError:
    pass  # refused peers are hung up on at once; the refusal is still there to read
data = b""
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode().strip())
"""


@pytest.fixture
def world_dir() -> Path:
    # pytest's tmp_path sits under a 0700 directory that uid 65534 cannot traverse.
    path = Path(tempfile.mkdtemp(prefix="nasfs-ctl-"))
    path.chmod(0o755)
    return path


async def run_as_nobody(socket_path: Path) -> str:
    result = await trio.run_process(
        # The system Python: the venv's interpreter may live under root's home (mode 0700).
        ["/usr/bin/python3", "-c", CLIENT_AS_OTHER_USER, str(socket_path)],
        user=65534, group=65534, extra_groups=[], capture_stdout=True, capture_stderr=True,
        check=False)
    assert result.returncode == 0, result.stderr.decode()
    return str(result.stdout.decode().strip())


async def test_non_root_peer_cannot_open_the_socket(world_dir: Path) -> None:
    srv = ControlServer(world_dir / "ctl.sock", make_methods())
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.serve)
        assert await run_as_nobody(srv.path) == "EACCES"
        nursery.cancel_scope.cancel()


async def test_non_root_peer_refused_by_credentials(world_dir: Path) -> None:
    # Even if the socket's mode were loosened by mistake, SO_PEERCRED keeps non-root out.
    srv = ControlServer(world_dir / "ctl.sock", make_methods(), allowed_uids={0})
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.serve)
        os.chmod(srv.path, 0o666)
        reply = json.loads(await run_as_nobody(srv.path))
        assert reply["id"] is None
        assert reply["error"]["code"] == "permission_denied"
        assert "uid 65534" in reply["error"]["message"]
        nursery.cancel_scope.cancel()


def test_method_registered_twice_is_an_error() -> None:
    methods = make_methods()

    async def other(request: Request) -> None:
        return None

    with pytest.raises(ValueError, match="echo"):
        methods.add("echo", other)
