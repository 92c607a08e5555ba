"""One-touch copy: a USB disk assigned to a job is plugged in → its job runs.

A pyudev monitor listens to udev's block-device events (so udev must run: systemd-udevd;
without it no event arrives and one-touch copy does nothing, which `status` says). An
event whose filesystem UUID (ID_FS_UUID, udev's blkid probe) belongs to a USB job starts
that job — only when the UUID *appears* on a device: udev also sends "change" for a disk
closed after writing (our own unmount), and that must not start the job again. Before an
event counts as a plug, blkid confirms that the device holds that filesystem now (udev's
probe may be older than the pull). The run itself settles udev, mounts the disk (one mount
shared by every operation of the daemon on it, nasfs.backup.usb), unmounts it and tells the
administrator that it may be removed (mail, log).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

UDEV_CONTROL = "/run/udev/control"


def udev_running() -> bool:
    """Whether a udev daemon answers on its control socket (a stale socket file left by a
    udevd that died does not count)."""
    if not os.path.exists(UDEV_CONTROL):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        try:
            s.connect(UDEV_CONTROL)
        except OSError:
            return False
    return True


def holds(node: str, uuid: str) -> bool:
    """Whether the device `node` holds the filesystem `uuid` right now (blkid probes the
    device itself, no cache)."""
    probe = subprocess.run(["blkid", "-p", "-s", "UUID", "-o", "value", node],
                           capture_output=True, text=True, check=False)
    return probe.returncode == 0 and probe.stdout.strip().lower() == uuid.lower()


class DiskWatch:
    """Calls `plugged(uuid)` (from its own thread) each time a filesystem UUID appears."""

    def __init__(self, plugged: Callable[[str], None]) -> None:
        self.plugged = plugged
        self.stop = threading.Event()
        # device node → (filesystem UUID on it now, the kernel's disk sequence number).
        # udev probes a device when it handles an event, not when the event happened, so
        # the event of a disk going away can arrive carrying the UUID of the disk plugged
        # in right after; the sequence number (DISKSEQ, raised by the kernel each time a
        # new medium or backing file appears) is the event's own and tells them apart.
        self.present: dict[str, tuple[str, str | None]] = {}

    def run(self) -> None:
        """Listen until `stop` is set (blocking: a worker thread)."""
        import pyudev

        context = pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context, source="udev")
        monitor.filter_by("block")
        monitor.start()
        # Disks already plugged in when the daemon starts are not "plugged in now".
        for device in context.list_devices(subsystem="block"):
            uuid = device.get("ID_FS_UUID")
            if uuid and device.device_node:
                self.present[device.device_node] = (uuid, device.get("DISKSEQ"))
        while not self.stop.is_set():
            device = monitor.poll(timeout=0.5)
            if device is None:
                continue
            node, uuid, diskseq = (device.device_node or "", device.get("ID_FS_UUID"),
                                   device.get("DISKSEQ"))
            if uuid and node and self.present.get(node) != (uuid, diskseq) \
                    and not holds(node, uuid):
                # udev probed a disk that is gone by now (its probe runs when it handles
                # the event, which may be after the pull): not a plug, and not present.
                uuid = None
            self.seen(device.action or "", node, uuid, diskseq)

    def forget(self, uuid: str) -> None:
        """The disk with filesystem `uuid` went away under a run (from any thread): its next
        appearance is a plug, whatever events its going away left behind (a re-probe
        handled after the disk was pulled looks like the disk still being there)."""
        for node, (present, _) in list(self.present.items()):
            if present.lower() == uuid.lower():
                self.present.pop(node, None)

    def seen(self, action: str, node: str, uuid: str | None,
             diskseq: str | None = None) -> None:
        if not node:
            return
        if action == "remove" or not uuid:
            self.present.pop(node, None)
            return
        if action not in ("add", "change"):
            return
        if self.present.get(node) == (uuid, diskseq):
            return  # the same medium again (closed after writing, re-probed)
        self.present[node] = (uuid, diskseq)
        log.info("disk %s with filesystem %s plugged in", node, uuid)
        try:
            self.plugged(uuid)
        except Exception:
            log.exception("one-touch copy for %s failed to start", uuid)
