"""A full array under the daemon (policy, trash, control API) on tiny tmpfs members.

With the space for files used up: deleting (into the trash), renaming, purging, stopping
and starting the daemon and compacting (mounted, through the daemon, and unmounted) all
work; purging gives the space back while mounted, through the reclaimer; every write that
returned success is there after a restart.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
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
