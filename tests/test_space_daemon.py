"""A full array under the daemon (policy, trash, control API) on tiny tmpfs members.

With the space for files used up: deleting (into the trash), renaming, purging, stopping
and starting the daemon and compacting (mounted, through the daemon, and unmounted) all
work; purging gives the space back while mounted, through the reclaimer; every write that
returned success is there after a restart.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nasfs.client.trash import TrashClient
from tests.fuse_policy_util import PolicyMount
from tests.space_util import MIB, check_files, fill, tmpfs_members

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny_nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with tmpfs_members(tmp_path, [24] * 3) as members:
        nas = PolicyMount(tmp_path, members)
        try:
            nas.start()
            nas.admin.share_create("docs")
            nas.admin.share_acl("docs", "everyone", None, "rw")
            yield nas
            nas.stop()
        finally:
            nas.cleanup()


def _capacity(nas: PolicyMount) -> dict[str, Any]:
    return dict(nas.call("status")["capacity"])


def _wait_for(what: str, ok: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        time.sleep(0.2)


def _nasfs(nas: PolicyMount, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NASFS_RUN_DIR=str(nas.run_dir))
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args, "--array",
                           *map(str, nas.members)], env=env, capture_output=True, text=True,
                          cwd=REPO)


def test_full_array_deletes_purges_restarts_and_gets_space_back(tiny_nas: PolicyMount) -> None:
    nas = tiny_nas
    docs = nas.mnt / "docs"
    acked: dict[str, bytes] = {}
    fill(docs, "f", itertools.cycle([MIB, 700_000]), acked)
    fill(docs, "t", itertools.cycle([50]), acked)
    assert len(acked) > 10
    assert _capacity(nas)["free_bytes"] < 64 << 10
    # Full: deleting goes to the trash, renaming works, and both are answered at once.
    names = sorted(n for n in acked if n.startswith("f"))
    doomed = names[: len(names) // 2]
    for name in doomed:
        os.unlink(docs / name)
        del acked[name]
    os.rename(docs / names[-1], docs / "renamed")
    acked["renamed"] = acked.pop(names[-1])
    trash = TrashClient(nas.client)  # type: ignore[arg-type]
    assert len(trash.items("docs")) == len(doomed)
    # A restart with the data area full: unmount and mount both work.
    nas.stop()
    nas.start()
    check_files(docs, acked)
    before = _capacity(nas)
    assert before["free_bytes"] < 2 * MIB  # closing the databases gave back a little
    trash = TrashClient(nas.client)  # type: ignore[arg-type]
    purged = trash.purge(older_than_days=0)
    assert len(purged) == len(doomed)
    # The reclaimer gives the purged space back while mounted.
    _wait_for("space coming back after the purge",
              lambda: _capacity(nas)["free_bytes"] > 4 * MIB)
    cap = _capacity(nas)
    assert cap["dead_bytes"] < before["dead_bytes"] + MIB
    more: dict[str, bytes] = {}
    fill(docs, "again", itertools.cycle([MIB]), more, limit=200)
    assert len(more) >= 3
    acked.update(more)
    # Compaction on demand, mounted (through the daemon) and then unmounted.
    done = _nasfs(nas, "compact")
    assert done.returncode == 0, done.stderr
    nas.stop()
    done = _nasfs(nas, "compact", "--min-dead", "0")
    assert done.returncode == 0, done.stderr
    nas.start()
    check_files(docs, acked)


def _kill(nas: PolicyMount) -> None:
    """SIGKILL the daemon (a crash) and drop its dead mount."""
    assert nas.proc is not None and nas.client is not None
    nas.proc.kill()
    nas.proc.wait()
    nas.proc = None
    nas.client.close()
    nas.client = None
    subprocess.run(["fusermount3", "-u", "-z", str(nas.mnt)], check=False,
                   stderr=subprocess.DEVNULL)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _writer(docs: Path, prefix: str, stop: threading.Event, written: dict[str, bytes]) -> None:
    """fsynced files until stopped or the daemon dies under it (30 at most)."""
    n = 0
    while not stop.is_set() and n < 30:
        name, data = f"{prefix}{n:03d}", os.urandom(100_000)
        try:
            _write_synced(docs / name, data)
        except OSError:
            return  # the daemon was killed under it
        written[name] = data
        n += 1


def _reader(docs: Path, keep: dict[str, bytes], stop: threading.Event,
            problems: list[str]) -> None:
    while not stop.is_set():
        for name, data in keep.items():
            try:
                got = (docs / name).read_bytes()
            except OSError:
                return  # the daemon was killed under it
            if got != data:
                problems.append(f"{name} read back wrong while reclaiming")


def test_reclaimer_under_load_then_kill_9_mid_reclaim(tiny_nas: PolicyMount) -> None:
    nas = tiny_nas
    docs = nas.mnt / "docs"
    rng = random.Random(5)
    keep: dict[str, bytes] = {}
    caught_reclaiming = 0
    for round_ in range(3):
        # Kept and doomed files interleaved: the reclaimer must move live chunks.
        doomed = []
        for i in range(12):
            name = f"r{round_}-{i:02d}"
            data = rng.randbytes(rng.choice((300_000, 600_000)))
            _write_synced(docs / name, data)
            if i % 2:
                doomed.append(name)
            else:
                keep[name] = data
        for name in doomed:
            os.unlink(docs / name)
        stop = threading.Event()
        written: dict[str, bytes] = {}
        problems: list[str] = []
        threads = [threading.Thread(target=_writer, args=(docs, f"w{round_}-", stop, written)),
                   threading.Thread(target=_reader, args=(docs, dict(keep), stop, problems))]
        for t in threads:
            t.start()
        TrashClient(nas.client).purge(older_than_days=0)  # type: ignore[arg-type]
        deadline = time.monotonic() + rng.uniform(0.0, 3.0)
        while time.monotonic() < deadline:
            if nas.call("status").get("running_job") == "reclaim":
                caught_reclaiming += 1
                time.sleep(rng.uniform(0.0, 0.3))
                break
            time.sleep(0.02)
        _kill(nas)
        stop.set()
        for t in threads:
            t.join()
        assert not problems, problems
        nas.start()
        check_files(docs, keep)
        check_files(docs, written)
        for name in doomed:
            assert not (docs / name).exists()
    assert caught_reclaiming >= 1, "no kill landed while the reclaimer ran"
