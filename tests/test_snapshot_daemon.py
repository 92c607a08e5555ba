"""Snapshots through a real daemon and mount: point-in-time consistency while a writer is
busy, the control methods and CLI (also offline), restore seen through the mount."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from nasfs.client.snapshots import SnapshotClient
from nasfs.fs import ROOT_INODE, Filesystem
from nasfs.store import Store
from tests.fuse_policy_util import PolicyMount, serve_nas
from tests.rewriter_util import FILES, SIZE, Rewriter, one_moment

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    yield from serve_nas(tmp_path, "docs", {})


def test_snapshots_are_consistent_while_a_writer_rewrites_files(nas: PolicyMount) -> None:
    assert nas.client is not None
    snaps = SnapshotClient(nas.client)
    with Rewriter(nas.mnt / "docs") as writer:
        taken = []
        while len(taken) < 15:
            before = writer.rounds
            taken.append((snaps.create(), before))
    assert writer.rounds > 3, "the writer hardly ran"
    listed = snaps.list()
    assert {s.id for s, _ in taken} <= {s.id for s in listed}
    assert all(s.name.startswith("@GMT-") for s in listed)
    nas.stop()

    async def check() -> list[tuple[int, ...]]:
        store = Store.open(nas.members)
        fs = Filesystem.open(store)
        seen = []
        try:
            docs = fs.snapshot_view(taken[0][0].id).lookup(ROOT_INODE, b"docs").ino
            for s, before in taken:
                view = fs.snapshot_view(s.id)
                files = [await view.read(view.lookup(docs, b"f%d" % i).ino, 0, SIZE + 1)
                         for i in range(FILES)]
                seen.append(one_moment(files, s.name, before))
        finally:
            await fs.close()
            store.close()
        return seen

    seen = trio.run(check)
    assert len(set(seen)) > 1  # the snapshots saw different moments


def cli(nas: PolicyMount, *args: str, socket: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if socket:
        env["NASFS_SOCKET"] = str(nas.socket)
    else:
        env.pop("NASFS_SOCKET", None)
        env["NASFS_RUN_DIR"] = str(nas.run_dir)
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args], env=env,
                          capture_output=True, text=True, cwd=REPO)


def test_cli_through_the_daemon_and_offline(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    (d / "sub").mkdir()
    (d / "sub" / "a.txt").write_bytes(b"original")
    os.setxattr(d / "sub" / "a.txt", "user.k", b"v")
    os.utime(d / "sub" / "a.txt", ns=(1_000_000_000, 2_000_000_000))
    out = cli(nas, "snapshot", "create", "--name", "first")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("snapshot 1 first taken")
    (d / "sub" / "a.txt").write_bytes(b"changed!")
    (d / "new.txt").write_bytes(b"new")
    diff = json.loads(cli(nas, "--json", "snapshot", "diff", "first").stdout)
    assert diff == {"added": ["docs/new.txt"], "changed": ["docs/sub/a.txt"], "removed": []}
    # Restore the folder beside the live one and see it through the mount at once.
    out = cli(nas, "snapshot", "restore", "first", "docs/sub")
    assert out.returncode == 0, out.stderr
    restored = d / "sub (first)" / "a.txt"
    assert restored.read_bytes() == b"original"
    assert os.getxattr(restored, "user.k") == b"v"
    assert os.stat(restored).st_mtime_ns == 2_000_000_000
    # Into place after deleting it.
    os.unlink(d / "new.txt")
    (d / "sub" / "a.txt").unlink()
    out = cli(nas, "snapshot", "restore", "1", "docs/sub/a.txt")
    assert out.returncode == 0, out.stderr
    assert (d / "sub" / "a.txt").read_bytes() == b"original"
    bad = cli(nas, "snapshot", "restore", "1", "docs/nothing")
    assert bad.returncode == 1 and bad.stderr.startswith("nasfs: ")
    assert cli(nas, "snapshot", "lock", "first").returncode == 0
    bad = cli(nas, "snapshot", "delete", "first")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "nasfs: snapshot 1 (first) is locked; unlock it first"
    assert cli(nas, "snapshot", "schedule", "set", "hourly", "0 * * * *",
               "--keep-hourly", "24", "--keep-daily", "7").returncode == 0
    listing = json.loads(cli(nas, "snapshot", "list", "--json").stdout)
    assert [s["name"] for s in listing] == ["first"] and listing[0]["locked"] is True
    ops = [r["operation"] for r in nas.admin.log_query("system", limit=1000).rows]
    assert {"snapshot.create", "snapshot.restore", "snapshot.lock",
            "snapshot.schedule.set"} <= set(ops)
    nas.stop()

    # Offline: the same commands on the disks, under the array lock.
    members = [str(m) for m in nas.members]
    out = cli(nas, "snapshot", "create", "--name", "offline", "--array", *members,
              socket=False)
    assert out.returncode == 0, out.stderr
    out = cli(nas, "--json", "snapshot", "list", "--array", *members, socket=False)
    assert [s["name"] for s in json.loads(out.stdout)] == ["first", "offline"]
    out = cli(nas, "--json", "snapshot", "schedule", "list", "--array", *members,
              socket=False)
    (sched,) = json.loads(out.stdout)
    assert sched["cron"] == "0 * * * *" and sched["keep_daily"] == 7
    assert cli(nas, "snapshot", "unlock", "first", "--array", *members,
               socket=False).returncode == 0
    assert cli(nas, "snapshot", "delete", "first", "--array", *members,
               socket=False).returncode == 0
