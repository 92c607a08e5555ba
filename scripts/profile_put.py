#!/usr/bin/env python3
"""Profile the store's put alone: where a 16 MiB batch of 1 MiB chunks spends its time.

Creates a fresh array (4 members, p=1) in --dir, then runs --writers threads that each put
--puts batches of 16 distinct 1 MiB chunks (what a file's flush-behind hands the store; two
writers are one file with two batches in flight), and prints the rate, the wall time
spent in each phase (summed over the threads that ran it, so member phases add up over
four members), and the fsync rounds and fsync calls each member's sync thread made
(nasfs.store.member_sync): with one writer one round per put, with several fewer when
their puts share rounds.

    .venv/bin/python scripts/profile_put.py [--writers 1] [--puts 16] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nasfs.store import (  # noqa: E402
    Store,
    catalog,
    member_sync,
    writer,
)

CHUNK = 1 << 20
BATCH = 16


class PhaseClock:
    """Wall time and calls per phase, by wrapping the functions that run each phase."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        real: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                with self._lock:
                    self.seconds[phase] += spent
                    self.calls[phase] += 1

        setattr(owner, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--puts", type=int, default=16, help="batches per writer")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    clock = PhaseClock()
    clock.wrap(Store, "_hash_all", "hash (BLAKE3, 2 threads)")
    clock.wrap(writer, "build_shards", "parity per stripe")
    clock.wrap(writer._MemberBatch, "write", "shard writes, summed over members")
    clock.wrap(member_sync.MemberSync, "run", "sync rounds (fsync), summed over members")
    clock.wrap(Store, "_write", "shards written and synced (per put)")
    clock.wrap(catalog.Catalog, "record_puts", "catalog commits (under the store lock)")
    base = Path(tempfile.mkdtemp(prefix="nasfs-profile-put-", dir=args.dir))
    try:
        members = [base / f"member{i}" for i in range(4)]
        for m in members:
            m.mkdir()
        Store.create(members, 1)
        with Store.open(members) as store:
            batches = [[bytes([w, p, i]) + os.urandom(16) * (CHUNK // 16 - 1) + bytes(13)
                        for i in range(BATCH)]
                       for w in range(args.writers) for p in range(args.puts)]

            def run(w: int) -> None:
                for p in range(args.puts):
                    store.put(batches[w * args.puts + p])

            threads = [threading.Thread(target=run, args=(w,)) for w in range(args.writers)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            syncs = store._writers.syncs
            rounds = [s.rounds for s in syncs]
            fsyncs = [s.fsyncs for s in syncs]
            commits, committed = store._committer.commits, store._committer.puts
        mib = args.writers * args.puts * BATCH * CHUNK / (1 << 20)
        print(f"{args.writers} writer(s) x {args.puts} puts of {BATCH} MiB: {elapsed:.2f} s, "
              f"{mib / elapsed:.0f} MiB/s (load {os.getloadavg()[0]:.1f})")
        for phase, spent in clock.seconds.items():
            n = clock.calls[phase]
            print(f"  {phase:44} {spent:6.2f} s {n:5} calls {spent / n * 1000:7.1f} ms/call")
        puts = args.writers * args.puts
        print(f"  sync rounds per member {rounds} ({sum(rounds) / len(rounds) / puts:.2f} a put), "
              f"segment fsyncs {fsyncs}")
        print(f"  catalog commits {commits} for {committed} puts")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
