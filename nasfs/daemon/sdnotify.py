"""Telling systemd how the daemon is doing (the sd_notify protocol, without libsystemd).

Under `Type=notify` (scripts/systemd/nasfs.service) systemd passes NOTIFY_SOCKET, a
datagram socket; the daemon sends `READY=1` once the mount and the control socket are up
(the moment `nasfs mount` in the background also reports ready) and `STOPPING=1` when the
clean stop begins. Outside systemd NOTIFY_SOCKET is unset and every call does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket


def notify(*assignments: str) -> bool:
    """Send `KEY=value` lines to systemd; True if there was a socket to send them to.

    Never raises: a notification that cannot be delivered must not stop the daemon.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not assignments:
        return False
    if address.startswith("@"):  # an abstract socket: the name starts with a NUL byte
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall("\n".join(assignments).encode())
        return True
    return False


def ready(status: str) -> bool:
    """The daemon serves: systemd may start what is ordered after nasfs.service."""
    return notify("READY=1", f"STATUS={status}")


def stopping(reason: str) -> bool:
    return notify("STOPPING=1", f"STATUS=stopping: {reason}")
