"""The systemd units: the daemon's (nasfs.service, the array mounted at boot) and the ones
that put the console on tty1 and ttyS0. What each must promise, and `systemd-analyze verify`
on (instantiated) copies when systemd is there.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nasfs.daemon import sdnotify

UNITS = Path(__file__).parent.parent / "scripts" / "systemd"
CASES = [("nasfs-console@.service", "tty1", "getty@%i.service", "TERM=linux"),
         ("nasfs-console-serial@.service", "ttyS0", "serial-getty@%i.service", "TERM=vt220")]


def settings(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (a key may repeat, as Environment= does)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize(("unit", "tty", "getty", "term"), CASES)
def test_unit_takes_the_terminal_and_comes_back(unit: str, tty: str, getty: str,
                                                term: str) -> None:
    found = settings(UNITS / unit)
    assert found["Restart"] == ["always"]
    assert found["TTYPath"] == ["/dev/%I"]
    assert found["StandardInput"] == ["tty"]
    assert found["Conflicts"] == [getty]  # no OS login prompt in front of the console
    assert term in found["Environment"]
    assert found["ExecStart"][0].split()[0].endswith("/nasfs-console")
    assert found["WantedBy"] == ["getty.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd here")
@pytest.mark.parametrize(("unit", "tty", "getty", "term"), CASES)
def test_systemd_accepts_the_unit(unit: str, tty: str, getty: str, term: str,
                                  tmp_path: Path) -> None:
    console = Path(sys.executable).parent / "nasfs-console"
    if not console.exists():
        pytest.skip("nasfs-console is not installed in this environment")
    text = (UNITS / unit).read_text().replace("/usr/local/bin/nasfs-console", str(console))
    instance = tmp_path / unit.replace("@.", f"@{tty}.")
    instance.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(instance)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "nasfs-console" not in done.stderr, done.stderr


# -- the daemon's unit ----------------------------------------------------------------------

def test_daemon_unit_mounts_at_boot_and_restarts_with_a_limit() -> None:
    found = settings(UNITS / "nasfs.service")
    assert found["Type"] == ["notify"]  # ready only once mounted (nasfs.daemon.sdnotify)
    command = found["ExecStart"][0].split()
    assert command[0].endswith("/nasfs") and command[1:3] == ["mount", "--foreground"]
    assert command[-2:] == ["--config", "/etc/nasfs/nasfs.toml"]
    assert found["Restart"] == ["on-failure"]
    assert int(found["StartLimitBurst"][0]) > 0 and found["StartLimitIntervalSec"]
    # A clean stop is the daemon's SIGTERM handling: only the main process gets it.
    assert found["KillMode"] == ["mixed"]
    assert "ExecStop" not in found
    assert found["WantedBy"] == ["multi-user.target"]
    # The console units are ordered after it by this very name.
    for unit, *_ in CASES:
        assert "nasfs.service" in settings(UNITS / unit)["After"][0].split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd here")
def test_systemd_accepts_the_daemon_unit(tmp_path: Path) -> None:
    nasfs = Path(sys.executable).parent / "nasfs"
    if not nasfs.exists():
        pytest.skip("nasfs is not installed in this environment")
    text = (UNITS / "nasfs.service").read_text().replace("/usr/local/bin/nasfs", str(nasfs))
    unit = tmp_path / "nasfs.service"
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "nasfs.service" not in done.stderr, done.stderr


def test_notify_reaches_the_socket_systemd_names(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        assert sdnotify.ready("serving at /srv/nas")
        assert listener.recv(4096).decode().splitlines() == [
            "READY=1", "STATUS=serving at /srv/nas"]
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sdnotify.ready("outside systemd")  # nothing to tell, nothing raised
