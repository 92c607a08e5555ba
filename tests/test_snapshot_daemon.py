"""Snapshots through a real daemon and mount: point-in-time consistency while a writer is
busy, the control methods and CLI (also offline), restore seen through the mount."""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from nasfs.client.snapshots import SnapshotClient
from nasfs.fs import ROOT_INODE, Filesystem
from nasfs.store import Store
from tests.fuse_policy_util import PolicyMount

FILES = 8
SIZE = 256 << 10  # one FUSE write request each: a file's rewrite is one atomic step
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    m = PolicyMount(tmp_path)
    try:
        m.start()
        m.admin.share_create("docs")
        m.admin.share_acl("docs", "everyone", None, "rw")
        yield m
        m.stop()
    finally:
        m.cleanup()


def content(round_: int, index: int) -> bytes:
    return struct.pack("<II", round_, index) * (SIZE // 8)


def test_snapshots_are_consistent_while_a_writer_rewrites_files(nas: PolicyMount) -> None:
    d = nas.mnt / "docs"
    fds = []
    for i in range(FILES):
        fd = os.open(d / f"f{i}", os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, content(0, i), 0)
        fds.append(fd)
    stop = threading.Event()
    rounds = [0]

    def writer() -> None:
        r = 0
        while not stop.is_set():
            r += 1
            for i, fd in enumerate(fds):
                os.pwrite(fd, content(r, i), 0)  # in place: the same inode, new data
            rounds[0] = r

    assert nas.client is not None
    snaps = SnapshotClient(nas.client)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        taken = []
        while len(taken) < 15:
            before = rounds[0]
            taken.append((snaps.create(), before))
    finally:
        stop.set()
        thread.join()
    for fd in fds:
        os.close(fd)
    assert rounds[0] > 3, "the writer hardly ran"
    listed = snaps.list()
    assert {s.id for s, _ in taken} <= {s.id for s in listed}
    assert all(s.name.startswith("@GMT-") for s in listed)
    nas.stop()

    async def check() -> list[list[int]]:
        store = Store.open(nas.members)
        fs = Filesystem.open(store)
        seen = []
        try:
            docs = fs.snapshot_view(taken[0][0].id).lookup(ROOT_INODE, b"docs").ino
            for s, before in taken:
                view = fs.snapshot_view(s.id)
                per_file = []
                for i in range(FILES):
                    a = view.lookup(docs, b"f%d" % i)
                    data = await view.read(a.ino, 0, SIZE + 1)
                    r, idx = struct.unpack("<II", data[:8])
                    # Whole: one round's complete content, never a mix of two writes.
                    assert idx == i and data == content(r, i), f"file {i} is torn in {s.name}"
                    per_file.append(r)
                # One moment: the writer goes f0..f7 each round, so at any instant the
                # rounds read r, ..., r, r-1, ..., r-1.
                assert all(a >= b for a, b in itertools.pairwise(per_file))
                assert per_file[0] - per_file[-1] <= 1, per_file
                assert per_file[-1] >= before, "a write done before the snapshot is missing"
                seen.append(per_file)
        finally:
            await fs.close()
            store.close()
        return seen

    seen = trio.run(check)
    assert len({tuple(x) for x in seen}) > 1  # the snapshots saw different moments


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
