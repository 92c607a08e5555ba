"""Mount a `Filesystem` with pyfuse3 and serve it until unmounted or cancelled."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pyfuse3
import trio

from nasfs.errors import NasfsError
from nasfs.fs import Filesystem
from nasfs.fuse.operations import Operations
from nasfs.fuse.policy_changes import ForgetOnPolicyChange
from nasfs.policy.gate import Gate
from nasfs.wire import codes

log = logging.getLogger(__name__)

# default_permissions: the kernel does POSIX permission checks (mode bits, sticky bit,
# chown/chmod rules); allow_other: every local user (and Samba) may use the mount.
BASE_OPTIONS = ("default_permissions", "allow_other", "fsname=nasfs", "subtype=nasfs")

# The kernel's default readahead for FUSE is 128 KiB; records are 1 MiB, so read more ahead.
READ_AHEAD_KB = 4096


class MountError(NasfsError):
    """The mount point cannot take the mount."""

    wire_code = codes.MOUNT


def check_mountpoint(mountpoint: Path) -> None:
    if not mountpoint.exists():
        raise MountError(f"mount point {mountpoint} does not exist")
    if not mountpoint.is_dir():
        raise MountError(f"mount point {mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise MountError(f"mount point {mountpoint} is busy: something is already mounted there")


def _device_of_mount(mountpoint: Path) -> str | None:
    """'major:minor' of the mount at `mountpoint`, from mountinfo (never stats the mount)."""
    # abspath, not realpath: realpath lstat()s the mount root, which waits for a FUSE reply
    # that this very process has not started serving yet (deadlock in fuse_get_req).
    target = os.fsencode(os.path.abspath(mountpoint))
    found = None
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ")
            if len(fields) > 4 and fields[4] == target:
                found = fields[2].decode()
    return found


def _tune_readahead(mountpoint: Path) -> None:
    dev = _device_of_mount(mountpoint)
    if dev is None:
        return
    try:
        Path(f"/sys/class/bdi/{dev}/read_ahead_kb").write_text(str(READ_AHEAD_KB))
    except OSError as exc:  # not root, or no sysfs: the kernel default still works
        log.info("could not raise readahead of %s: %s", mountpoint, exc)


async def _tune_readahead_after_init(mountpoint: Path) -> None:
    """Raise the readahead window once the kernel has taken the INIT reply.

    The kernel offers its current window in INIT and, on the reply, lowers the window to
    what the reply allows, so a value written before that is lost (measured: 128 KiB
    stayed). A stat of the mount root completes only after INIT is processed; it runs in a
    worker thread because this process is the one answering it.
    """
    try:
        await trio.to_thread.run_sync(os.stat, mountpoint, abandon_on_cancel=True)
    except OSError as exc:
        log.info("could not stat %s to tune readahead: %s", mountpoint, exc)
        return
    _tune_readahead(mountpoint)


def _forget_undone(names: set[tuple[int, bytes]], inodes: set[int]) -> None:
    """After a failed commit put the namespace back to the disk's: the kernel forgets the
    entries and attributes it cached of what was undone (up to its entry timeout it would
    show names that no longer exist). Invalidating an inode can wait on the kernel, so a
    thread does it; entries go through pyfuse3's own invalidation thread."""
    for parent, name in names:
        pyfuse3.invalidate_entry_async(parent, name, ignore_enoent=True)

    def inodes_now() -> None:
        for ino in inodes:
            # OSError: the kernel does not know it (any more), so there is nothing to forget.
            with contextlib.suppress(OSError):
                pyfuse3.invalidate_inode(ino)

    if inodes:
        threading.Thread(target=inodes_now, name="nasfs-forget-undone", daemon=True).start()


async def serve(
    fs: Filesystem,
    mountpoint: Path,
    *,
    options: Sequence[str] = (),
    writeback_cache: bool = False,
    gate: Gate | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Mount `fs` at `mountpoint`, report started, serve until unmounted or cancelled.

    Runs the filesystem's group commit while mounted. Returns when the mount goes away
    (e.g. `fusermount3 -u`); on cancellation it unmounts. It does not close `fs`: the
    caller does (`await fs.close()`), which flushes and marks the volume clean.
    `gate`: the policy gate to serve through (the daemon's); None serves `fs` unrestricted.
    Raises MountError for a missing or busy mount point.
    """
    mountpoint = Path(os.path.realpath(mountpoint))  # resolved while nothing is mounted there
    check_mountpoint(mountpoint)
    # Without a gate of the caller's (a test mount): one with no policy, which lets all through.
    ops = Operations(gate or Gate(fs, None), writeback_cache=writeback_cache)
    opts = set(pyfuse3.default_options) | set(BASE_OPTIONS) | set(options)
    try:
        pyfuse3.init(ops, str(mountpoint), opts)
    except RuntimeError as exc:
        raise MountError(f"could not mount {mountpoint}: {exc}") from exc
    fs.changes_undone.append(_forget_undone)
    forget = ForgetOnPolicyChange(ops.gate)
    forget.attach()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fs.run_group_commit)
            nursery.start_soon(_tune_readahead_after_init, mountpoint)
            task_status.started()
            await pyfuse3.main()
            nursery.cancel_scope.cancel()
        log.info("%s was unmounted", mountpoint)
    finally:
        forget.detach()
        fs.changes_undone.remove(_forget_undone)
        pyfuse3.close(unmount=True)
