"""The smbd process nasfs runs: started in the foreground as a child of the daemon (so it
lives exactly as long as the mount it serves), stopped with everything it started.

smbd forks one process per client connection and starts `samba-dcerpcd` on demand for the
RPC services (share lists). samba-dcerpcd detaches from smbd, so stopping smbd is not
enough: it is found by the pid file in our own pid directory (and only if its command line
names our configuration) and stopped too. A smbd left running by a daemon that was killed
is found the same way and stopped before a new one starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.smb.config import Site
from nasfs.wire import codes

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


class SmbdError(NasfsError):
    """smbd could not be started."""

    wire_code = codes.SMBD


class Smbd:
    """One smbd serving `site` (build, `start()`, and `stop()` at the end)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Start smbd on the installed configuration; return once it accepts connections."""
        if self.running():
            return
        stop_leftovers(self.site)
        self.site.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = open(self.site.log_dir / "smbd.out", "ab")  # noqa: SIM115 - the child's
        try:
            self.proc = subprocess.Popen(
                ["smbd", "--foreground", "--no-process-group", "-s", str(self.site.conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(_probe_address(self.site), self.site.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SmbdError(f"smbd did not start on port {self.site.port}: "
                                f"{_tail(self.site)}")
            time.sleep(0.05)
        log.info("smbd pid %d serving %s on port %d", self.proc.pid, self.site.mountpoint,
                 self.site.port)

    def stop(self) -> None:
        """Stop smbd (its connection processes end with it) and its RPC helpers."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("smbd pid %d did not stop on SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()
        stop_leftovers(self.site)


def stop_leftovers(site: Site) -> None:
    """Stop the smbd and samba-dcerpcd of this configuration that are not our children."""
    for name in ("smbd", "samba-dcerpcd"):
        pid = _pid_from_file(site.state_dir / "pid" / f"{name}.pid")
        if pid is not None and _serves(pid, site.conf):
            _terminate(pid)


def _pid_from_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _serves(pid: int, conf: Path) -> bool:
    """Process `pid` is alive and runs with our configuration file."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    wanted = str(conf).encode()
    return any(a == wanted or a.endswith(b"=" + wanted) for a in args)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _probe_address(site: Site) -> str:
    for item in site.interfaces:
        if item.replace(".", "").isdigit():
            return item.split("/")[0]
    return "127.0.0.1"


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _tail(site: Site) -> str:
    lines: list[str] = []
    for path in (site.log_dir / "smbd.out", site.log_file):
        with contextlib.suppress(OSError):
            lines += path.read_text(errors="replace").strip().splitlines()[-5:]
    return " | ".join(line.strip() for line in lines) or "no message"
