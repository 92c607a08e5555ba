"""Overlapping fsyncs from several threads and processes, SIGKILL the moment one returns.

The rule under test: when fsync/fdatasync returns 0, every byte written to that file before
the call is readable after kill -9, whatever other flushes or commits run concurrently; and
no file's size is ever durable ahead of its data (every file reads back as a prefix of what
was appended to it, never with zeros).

Each round starts writers (threads in this process and separate processes) that append to
their own files and fsync after every piece; one of them, chosen by the seed, SIGKILLs the
daemon right after its chosen fsync returned. The array is mounted again and every file is
checked. Rounds: NASFS_FSYNC_CRASH_ROUNDS (default 12); the seed is printed and
NASFS_FSYNC_CRASH_SEED replays it (sizes, writers, the killer and its fsync; thread timing
is the machine's).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import REPO, MountedArray
from tests.fsync_writer import Plan, content, plan_for, run, synced_lengths

ROUNDS = int(os.environ.get("NASFS_FSYNC_CRASH_ROUNDS", "12"))
THREADS = 3
PROCESSES = 2


def _round(fuse_array: MountedArray, seed: int, rnd: int) -> tuple[list[Plan], dict[str, int]]:
    """One round: writers until the chosen fsync returns and the daemon dies."""
    mnt = fuse_array.mountpoint
    assert fuse_array.proc is not None
    pid = fuse_array.proc.pid
    rng = random.Random(f"{seed}:{rnd}")
    names = [f"r{rnd:03d}-t{i}" for i in range(THREADS)]
    names += [f"r{rnd:03d}-p{i}" for i in range(PROCESSES)]
    plans = [plan_for(n, seed) for n in names]
    killer = rng.randrange(len(plans))
    kill_at = rng.randint(2, 5)
    log_path = fuse_array.root / f"synced-{rnd:03d}.log"
    go = fuse_array.root / f"go-{rnd:03d}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fsync_writer", str(mnt), p.name, str(seed),
             str(log_path), str(pid), str(kill_at if i == killer else 0), str(go)],
            cwd=REPO,
        )
        for i, p in enumerate(plans) if i >= THREADS
    ]
    start = threading.Event()

    def thread_writer(i: int) -> None:
        start.wait()
        run(mnt, plans[i], log_path, pid, kill_at if i == killer else None)

    threads = [threading.Thread(target=thread_writer, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    go.touch()
    start.set()
    for t in threads:
        t.join()
    for proc in procs:
        proc.wait(timeout=300)
    synced = synced_lengths(log_path)
    # The daemon died from the killer's SIGKILL, right after that fsync returned.
    returned = sum(1 for line in log_path.read_text().splitlines()
                   if line.split()[0] == plans[killer].name)
    assert returned == kill_at, (
        f"seed {seed} round {rnd}: {plans[killer].name} returned {returned} fsyncs, "
        f"expected to kill after {kill_at}")
    fuse_array.kill()  # reaps the killed process and drops the dead mount
    return plans, synced


def _check(mnt: Path, plans: list[Plan], synced: dict[str, int], seed: int,
           rnd: int) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for plan in plans:
        want = synced.get(plan.name, 0)
        path = mnt / plan.name
        where = f"seed {seed} round {rnd} {plan.name}"
        if not path.exists():
            assert want == 0, f"{where}: gone after {want} fsynced bytes"
            continue
        got = path.read_bytes()
        expected = content(plan)
        assert len(got) >= want, f"{where}: {len(got)} bytes after {want} fsynced"
        if got != expected[: len(got)]:
            bad = next(i for i in range(len(got)) if got[i] != expected[i])
            zeros = ", zeros where data should be" if not any(got[bad : bad + 4096]) else ""
            if bad < want:
                raise AssertionError(f"{where}: fsynced bytes lost from byte {bad} "
                                     f"({want} fsynced, {len(got)} read){zeros}")
            raise AssertionError(f"{where}: size {len(got)} durable ahead of the data, wrong "
                                 f"from byte {bad} ({want} fsynced){zeros}")
        found[plan.name] = got
    return found


def test_sigkill_when_an_overlapping_fsync_returns(fuse_array: MountedArray) -> None:
    seed = int(os.environ.get("NASFS_FSYNC_CRASH_SEED", random.randrange(1 << 32)))
    print(f"fsync crash seed {seed} (NASFS_FSYNC_CRASH_SEED={seed} replays), {ROUNDS} rounds")
    mnt = fuse_array.mount()
    kept: dict[str, bytes] = {}
    for rnd in range(ROUNDS):
        plans, synced = _round(fuse_array, seed, rnd)
        fuse_array.mount()  # unclean: reconciles references
        kept.update(_check(mnt, plans, synced, seed, rnd))
    # Later rounds' crashes and recoveries left the earlier files as they were.
    for name, data in kept.items():
        assert (mnt / name).read_bytes() == data, f"seed {seed}: {name} changed later"
    fuse_array.unmount()
