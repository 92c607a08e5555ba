"""nasfs.client without a daemon: every way of naming an array gives a clear, helpful error."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nasfs.client import ArrayStatus, Client, DaemonNotRunning
from nasfs.config import Config
from nasfs.store import Store


def test_mountpoint_without_daemon(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning) as info:
        Client.connect(tmp_path, run_dir=tmp_path / "run")
    message = str(info.value)
    assert message == (f"no nasfs daemon is running for {tmp_path}; start it with "
                       f"'nasfs mount {tmp_path} --array MEMBER...'")
    assert info.value.exit_code == 3


def test_config_without_daemon_names_the_array_and_the_file(tmp_path: Path) -> None:
    members = [tmp_path / f"d{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    label = Store.create(members, 1)
    config = Config(members=tuple(members), run_dir=tmp_path / "run",
                    source=tmp_path / "nasfs.toml")
    with pytest.raises(DaemonNotRunning) as info:
        Client.connect(config)
    assert str(info.value) == (
        f"no nasfs daemon is running for array {label.array_uuid}; start it with "
        f"'nasfs mount --config {tmp_path / 'nasfs.toml'}'")


def test_empty_config(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match="no array is mounted on this box"):
        Client.connect(Config(run_dir=tmp_path))


def test_socket_nobody_listens_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    with pytest.raises(DaemonNotRunning, match=f"no nasfs daemon answers on {path}"):
        Client.connect(path)
    monkeypatch.setenv("NASFS_SOCKET", str(path))
    with pytest.raises(DaemonNotRunning, match=f"no nasfs daemon answers on {path}"):
        Client.connect()


def test_status_parsing_ignores_unknown_fields() -> None:
    data = {
        "state": "degraded", "array_uuid": "u", "generation": 2, "nparity": 1,
        "members": [{"index": 0, "path": "/d0", "state": "ok", "serial": "X1"},
                    {"index": 1, "path": None, "state": "missing"}],
        "missing": [1], "rebuild_in_progress": None,
        "capacity": {"raw_bytes": 9, "usable_bytes": 6, "used_bytes": 1, "stored_bytes": 2,
                     "dead_bytes": 0, "free_bytes": 5, "temperature": 40},
        "mounted": False, "mountpoint": None, "source": "daemon", "future_field": [1],
    }
    status = ArrayStatus.from_json(data)
    assert status.members[1].state == "missing" and status.capacity.free_bytes == 5
    assert status.to_json()["capacity"]["usable_bytes"] == 6
    assert ArrayStatus.from_json(status.to_json()) == status
