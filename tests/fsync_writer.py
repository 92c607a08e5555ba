"""An appending writer for the fsync crash tests, usable as a thread or as a process.

Each writer appends a deterministic byte stream (from the round's seed and the file name) to
its own file in pieces of seeded sizes, calls fsync or fdatasync after every piece, and
records in a log outside the mount how many bytes each returned fsync covered. The chosen
writer SIGKILLs the daemon right after its chosen fsync returned, which is the moment the
durability promise is tested. The writers stop at the first error (the mount is gone).

    python -m tests.fsync_writer MOUNTPOINT NAME SEED LOG DAEMON_PID KILL_AT GO

A process writer waits for the file GO to exist, so that all writers start together.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PIECE_SIZES = (1, 4096, 70_000, 131_072, 500_000, 1 << 20, 1_300_000, 2_100_000)
PIECES = 7


@dataclass(frozen=True)
class Plan:
    """What one writer writes: the sizes of its pieces (the content follows from the name)."""

    name: str
    seed: int
    sizes: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.sizes)


def plan_for(name: str, seed: int) -> Plan:
    rng = random.Random(f"{seed}:{name}:sizes")
    return Plan(name, seed, tuple(rng.choice(PIECE_SIZES) for _ in range(PIECES)))


def content(plan: Plan) -> bytes:
    """The whole stream the writer appends; every durable state is a prefix of it."""
    return random.Random(f"{plan.seed}:{plan.name}:bytes").randbytes(plan.total)


def run(mnt: Path, plan: Plan, log_path: Path, daemon_pid: int, kill_at: int | None) -> None:
    """Append, fsync, log; SIGKILL the daemon after fsync number `kill_at` (1-based)."""
    data = content(plan)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fd = os.open(mnt / plan.name, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError:
        os.close(log_fd)
        return
    try:
        pos = 0
        for n, size in enumerate(plan.sizes, start=1):
            view = memoryview(data)[pos : pos + size]
            while view:
                written = os.write(fd, view)
                view = view[written:]
            pos += size
            if n % 2:
                os.fsync(fd)
            else:
                os.fdatasync(fd)
            # Before the kill, so the test knows what this fsync promised.
            os.write(log_fd, f"{plan.name} {pos}\n".encode())
            if n == kill_at:
                os.kill(daemon_pid, signal.SIGKILL)
                return
    except OSError:
        return  # the daemon is gone: ENOTCONN / EIO / EBADF from here on
    finally:
        os.close(log_fd)
        with contextlib.suppress(OSError):
            os.close(fd)


def synced_lengths(log_path: Path) -> dict[str, int]:
    """The largest length each file's returned fsyncs covered."""
    out: dict[str, int] = {}
    if not log_path.exists():
        return out
    for line in log_path.read_text().splitlines():
        name, length = line.split()
        out[name] = max(out.get(name, 0), int(length))
    return out


def main(argv: list[str]) -> int:
    mnt, name, seed, log_path, pid, kill_at, go = argv
    while not os.path.exists(go):
        time.sleep(0.005)
    run(Path(mnt), plan_for(name, int(seed)), Path(log_path), int(pid),
        int(kill_at) if int(kill_at) > 0 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
