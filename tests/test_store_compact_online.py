"""Compaction while the store is in use: puts, releases and reads run beside it."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from nasfs.store import Store
from tests.store_util import new_array


def writers_alive(threads: list[threading.Thread]) -> bool:
    return all(t.is_alive() for t in threads)


def test_compaction_beside_writers_and_readers_loses_nothing(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 1)
    live: dict[bytes, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []
    puts = [0]

    with Store.open(members) as store:

        def writer(seed: int) -> None:
            rng = random.Random(seed)
            try:
                while not stop.is_set():
                    chunks = [rng.randbytes(rng.choice((100, 5000, 60_000, 150_000)))
                              for _ in range(rng.randrange(1, 6))]
                    ids = store.put(chunks)
                    with lock:
                        for cid, data in zip(ids, chunks, strict=True):
                            live.setdefault(cid, data)
                        doomed = rng.sample(sorted(live), k=len(live) // 3) if len(
                            live) > 30 else []
                        for cid in doomed:
                            del live[cid]
                    store.release(doomed)
                    puts[0] += 1
            except BaseException as exc:
                failures.append(exc)

        def reader(seed: int) -> None:
            rng = random.Random(seed)
            try:
                while not stop.is_set():
                    with lock:
                        if not live:
                            continue
                        cid = rng.choice(list(live))
                        want = live[cid]
                        # Hold the lock so the writer cannot release it while we read.
                        assert store.get(cid) == want
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=writer, args=(1,)),
                   threading.Thread(target=reader, args=(2,))]
        for t in threads:
            t.start()
        compacted = 0
        try:
            rounds = 0
            while (puts[0] < 400 or rounds < 20) and not failures and writers_alive(threads):
                compacted += store.compact(0.3).segments_compacted
                rounds += 1
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not failures, failures
        assert compacted > 0
        for cid, data in live.items():
            assert store.get(cid) == data
        assert store.scrub().clean
    with Store.open(members) as store:
        for cid, data in live.items():
            assert store.get(cid) == data
