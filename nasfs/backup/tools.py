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


def metadata_args(*, posix: bool, owners: bool) -> list[str]:
    """What rsync keeps: everything (-aHX); without owners and modes (NTFS through
    ntfs-3g: -rltHX, so an unchanged file still matches its previous copy and is hard-linked);
    without POSIX metadata times only (FAT keeps them to 2 s), symlinks skipped."""
    if posix and owners:
        return ["-aHX", "--numeric-ids"]
    if posix:
        return ["-rltHX", "--modify-window=1"]
    return ["-rt", "--modify-window=2", "--no-links"]


def rsync_args(options: Options, *, posix: bool, hardlinks: bool,
               last_good: str | None, owners: bool = True) -> list[str]:
    args = metadata_args(posix=posix, owners=owners)
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


def run(argv: list[str], progress: Progress, cancelled: Callable[[], bool],
        *, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `argv`, parsing rsync-style progress from stdout; kill it when `cancelled()`.

    Returns (exit code, stderr); a killed process gives a negative code.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    err = bytearray()
    buf = b""
    streams = [proc.stdout, proc.stderr]
    while streams:
        if cancelled() and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        ready, _, _ = select.select(streams, [], [], 0.5)
        for s in ready:
            chunk = os.read(s.fileno(), 65536)
            if not chunk:
                streams.remove(s)
                continue
            if s is proc.stderr:
                err += chunk
                # rclone reports its progress on stderr (rsync on stdout).
                for line in re.split(rb"[\r\n]", chunk):
                    _progress_line(line, progress)
                continue
            buf += chunk
            *lines, buf = re.split(rb"[\r\n]", buf)
            for line in lines:
                _progress_line(line, progress)
    code = proc.wait()
    return code, err.decode(errors="replace")
