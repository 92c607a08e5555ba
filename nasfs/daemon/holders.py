"""Which processes hold a mount busy: open files, working directories, mapped files.

`nasfs umount` refuses while any exist (unless `--force`): unmounting under them would
turn every later access of theirs into "Transport endpoint is not connected", and a writer
would lose what it had not closed yet. Found by reading /proc: for every process, the links
`cwd`, `root` and `fd/*`, and the file names in `maps`. Reading a link never touches the
FUSE mount itself (the kernel prints the path it already knows), so this cannot hang on a
stuck daemon. Processes we may not inspect (another user's, without root) are skipped:
the daemon runs as root and sees them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Holder:
    """One process using the mount, and how (the first use found)."""

    pid: int
    command: str
    what: str  # "open file PATH", "working directory PATH", ...

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command}): {self.what}"


def _inside(path: str, mountpoint: str) -> bool:
    path = path.removesuffix(" (deleted)")
    return path == mountpoint or path.startswith(mountpoint + "/")


def _link(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _use_of(proc: Path, mountpoint: str) -> str | None:
    """How the process at /proc/PID uses the mount, or None."""
    for name, what in (("cwd", "working directory"), ("root", "root directory")):
        target = _link(proc / name)
        if target is not None and _inside(target, mountpoint):
            return f"{what} {target}"
    try:
        fds = sorted(os.listdir(proc / "fd"), key=lambda n: int(n) if n.isdigit() else -1)
    except OSError:
        fds = []
    for fd in fds:
        target = _link(proc / "fd" / fd)
        if target is not None and _inside(target, mountpoint):
            return f"open file {target}"
    try:
        with open(proc / "maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and _inside(fields[5].rstrip("\n"), mountpoint):
                    return f"mapped file {fields[5].rstrip()}"
    except OSError:
        pass
    return None


def _command(proc: Path) -> str:
    try:
        return (proc / "comm").read_text(errors="replace").strip() or "?"
    except OSError:
        return "?"


def holders(mountpoint: Path, *, ignore: frozenset[int] = frozenset()) -> list[Holder]:
    """Processes (other than `ignore`) using anything under `mountpoint`, by pid."""
    where = os.path.abspath(mountpoint)
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in ignore:
            continue
        use = _use_of(entry, where)
        if use is not None:
            found.append(Holder(int(entry.name), _command(entry), use))
    return sorted(found, key=lambda h: h.pid)


def describe(found: list[Holder], limit: int = 5) -> str:
    """`pid 12 (python3): open file /srv/nas/a; ...` (the first `limit`, then a count)."""
    shown = "; ".join(map(str, found[:limit]))
    more = len(found) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
