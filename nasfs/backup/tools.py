"""Running rsync and rclone: command lines from a job's options, progress read from their
output, cancellation by killing the process (both resume from what they left).

rsync for POSIX destinations keeps everything a generation needs to be restored as it was:
`-aHX --numeric-ids` (modes, owners, times, hard links, xattrs), `--delete` so a resumed
generation holds exactly the snapshot, `--partial-dir` so a big file cut halfway is
continued, `--link-dest` to the last good generation so unchanged files are hard links.
On filesystems without hard links or POSIX metadata (exFAT, FAT32) it is
`-rt --modify-window=2` with symlinks skipped, and `--copy-dest` instead of `--link-dest`
(an unchanged file is copied from the previous generation on the same disk, not read
again from the array): every generation is a full copy there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import subprocess
from collections.abc import Callable

from nasfs.backup.model import Options
from nasfs.backup.progress import Progress
from nasfs.backup.progress import read_line as _progress_line

__all__ = ["PARTIAL_DIR", "Progress", "filter_args", "metadata_args", "rsync_args", "run"]

PARTIAL_DIR = ".rsync-partial"


def filter_args(options: Options) -> list[str]:
    args = [f"--include={p}" for p in options.include]
    args += [f"--exclude={p}" for p in options.exclude]
    return args


def metadata_args(*, posix: bool, owners: bool, xattrs: bool = True,
                  exact_times: bool = False) -> list[str]:
    """What rsync keeps: everything (-aHX); without owners and modes (NTFS through
    ntfs-3g: -rltHX, so an unchanged file still matches its previous copy and is hard-linked);
    without POSIX metadata times only (FAT keeps them to 2 s), symlinks skipped.

    `xattrs=False` (the source has none, and neither has what is at the destination) drops
    -X: through FUSE every file's listing of its attributes is a request of its own, the
    most of an unchanged run's time.

    `exact_times` (the destination keeps nanoseconds) compares times exactly
    (`--modify-window=-1`): with rsync's default window of 0 only the seconds are
    compared, and a symbolic link or folder made within the same second as its source's
    time keeps the moment rsync made it (nasfs.backup.places._keeps_nanoseconds)."""
    x = "X" if xattrs else ""
    if posix and owners:
        return [f"-aH{x}", "--numeric-ids", *(["--modify-window=-1"] if exact_times else [])]
    if posix:
        return [f"-rltH{x}", "--modify-window=1"]
    return ["-rt", "--modify-window=2", "--no-links"]


def rsync_args(options: Options, *, posix: bool, hardlinks: bool,
               last_good: str | None, owners: bool = True, xattrs: bool = True,
               exact_times: bool = False) -> list[str]:
    args = metadata_args(posix=posix, owners=owners, xattrs=xattrs, exact_times=exact_times)
    args += ["--delete", "--delete-excluded", f"--partial-dir={PARTIAL_DIR}",
             "--info=progress2", "--no-human-readable", "--exclude=/#snapshot",
             "--exclude=/#trash"]
    args += filter_args(options)
    if options.bwlimit_kib:
        args.append(f"--bwlimit={options.bwlimit_kib}")
    if last_good is not None:
        # Relative to the destination folder: works on this box and over ssh alike.
        args.append(f"--link-dest=../{last_good}" if hardlinks
                    else f"--copy-dest=../{last_good}")
    return args


# How often the daemon looks at a running tool's output. rsync prints a progress line per
# file; a select and read per line woke a Python thread of the daemon thousands of times a
# run (3,300 wakeups for 2,000 files), each taking the interpreter lock from the thread
# that serves the FUSE requests of that same rsync. Four looks a second cost nothing, and
# the widened pipe holds what the tool prints meanwhile (it would only block on a full one).
POLL_S = 0.25
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), not named by Python before 3.10


def run(argv: list[str], progress: Progress, cancelled: Callable[[], bool],
        *, env: dict[str, str] | None = None,
        on_line: Callable[[bytes], bool] | None = None) -> tuple[int, str]:
    """Run `argv`, parsing rsync-style progress from stdout (and rclone's from stderr),
    looked at every POLL_S; kill it when `cancelled()`. `on_line` is offered each line of
    stdout first (rsync's --out-format lines: nasfs.backup.hash_behind) and returns
    whether it took it.

    Returns (exit code, stderr); a killed process gives a negative code.
    """
    # Its own process group (cancel kills the tool and what it started, ssh), but not its
    # own session: with the kernel's session autogroups a new session put rsync in another
    # scheduling group than the daemon serving its reads, and every FUSE request's hand-over
    # between the two waited for the other group's turn (the daemon's FUSE thread blocked
    # 2.7 times as often; the copy took about twice as long as the same rsync run from a
    # shell in the daemon's session).
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, process_group=0)
    assert proc.stdout is not None and proc.stderr is not None
    for stream in (proc.stdout, proc.stderr):
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(stream.fileno(), False)
    exited = os.pidfd_open(proc.pid)  # readable once the tool has exited
    err = bytearray()
    out = b""
    err_line = b""
    streams = {proc.stdout.fileno(), proc.stderr.fileno()}
    try:
        while streams:
            if cancelled() and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            select.select([exited], [], [], POLL_S)
            finished = proc.poll() is not None
            for fd in sorted(streams):
                chunk, closed = _drain(fd, to_end=finished)
                if closed:
                    streams.discard(fd)
                if fd == proc.stderr.fileno():
                    err += chunk
                    # rclone reports its progress on stderr (rsync on stdout).
                    *lines, err_line = re.split(rb"[\r\n]", err_line + chunk)
                    for line in lines:
                        _progress_line(line, progress)
                    continue
                out += chunk
                *lines, out = re.split(rb"[\r\n]", out)
                for line in lines:
                    if on_line is None or not on_line(line):
                        _progress_line(line, progress)
    finally:
        os.close(exited)
    code = proc.wait()
    return code, err.decode(errors="replace")


def _drain(fd: int, *, to_end: bool) -> tuple[bytes, bool]:
    """What `fd` holds now (with `to_end`: everything until its end, the tool having
    exited), and whether its end was reached."""
    if to_end:
        os.set_blocking(fd, True)
    got = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return bytes(got), False
        if not chunk:
            return bytes(got), True
        got += chunk
