"""Which network client a smbd process serves: for the access log's `client` column.

smbd forks one process per client connection, and that process (or one of its threads)
is what the FUSE layer sees as the caller. Its connected TCP socket says who is on the
other end: the socket inodes among /proc/PID/fd, matched against the ESTABLISHED rows of
/proc/PID/net/tcp and tcp6. Only /proc is read (no subprocess on the file-system path), and
the answer is kept for a few seconds per pid, since a connection's process lives as long
as the connection.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time

SMBD = "smbd"
TTL_S = 5.0
_ESTABLISHED = "01"
_cache: dict[int, tuple[float, str | None]] = {}


def client_of(pid: int | None, process: str | None) -> str | None:
    """The client address an smbd process `pid` serves; None for anything else."""
    if not pid or process != SMBD:
        return None
    now = time.monotonic()
    cached = _cache.get(pid)
    if cached is not None and now - cached[0] < TTL_S:
        return cached[1]
    if len(_cache) > 4096:
        _cache.clear()
    address = _peer_address(pid)
    _cache[pid] = (now, address)
    return address


def _peer_address(pid: int) -> str | None:
    inodes = _socket_inodes(pid)
    if not inodes:
        return None
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as f:
                next(f, None)  # the header
                for line in f:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == _ESTABLISHED and fields[9] in inodes:
                        return _address(fields[2])
        except OSError:
            return None
    return None


def _socket_inodes(pid: int) -> set[str]:
    found: set[str] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for name in names:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{name}")
            if target.startswith("socket:["):
                found.add(target[8:-1])
    return found


def _address(field: str) -> str:
    """`0100007F:D431` (or the 32-digit IPv6 form) → "127.0.0.1" / "2001:db8::1"."""
    hexaddr = field.split(":", 1)[0]
    raw = bytes.fromhex(hexaddr)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
