"""Members that vanish or are replaced while running: failed at once, never recreated.

The rule (docs/on-disk-format.md, "Member identity"): nothing is created under a member
path except by mkfs and rebuild. A member whose root or `nasfs/` folder is gone, moved or
replaced, or whose path is now on another filesystem, is failed by whatever touches it
first, and nothing is written at its path afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nasfs.store import RebuildError, Store, StoreEvent
from tests.store_util import SMALL, new_array
from tests.test_cli_mount import Env, env  # noqa: F401 - the fixture is used by name


def tree(path: Path) -> list[str]:
    """Every name under `path` (empty for a missing path)."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def put_some(store: Store, rng: random.Random, n: int = 6) -> dict[bytes, bytes]:
    chunks = [rng.randbytes(rng.choice((100, 40_000, 200_000))) for _ in range(n)]
    return dict(zip(store.put(chunks), chunks, strict=True))


@pytest.fixture
def events() -> list[StoreEvent]:
    return []


def test_two_members_moved_away_at_once_are_failed_not_recreated(
        tmp_path: Path, events: list[StoreEvent]) -> None:
    members = new_array(tmp_path, 5, 2)
    rng = random.Random(1)
    with Store.open(members, events=events.append) as store:
        stored = put_some(store, rng)
        moved = {1: tmp_path / "away1", 3: tmp_path / "away3"}
        for i, dest in moved.items():
            os.rename(members[i], dest)
        before = {i: tree(dest) for i, dest in moved.items()}
        stored |= put_some(store, rng)  # the next write notices both, writes neither
        assert sorted(store.missing) == [1, 3]
        assert not members[1].exists() and not members[3].exists()
        # Nothing reached the moved directories either: they were failed before the write.
        assert {i: tree(dest) for i, dest in moved.items()} == before
        for cid, data in stored.items():
            assert store.get(cid) == data
        assert store.health().state == "degraded"
        failed = [e for e in events if e.kind == "member-failed"]
        assert sorted(e.member for e in failed if e.member is not None) == [1, 3]
        for i in (1, 3):
            (tmp_path / f"new{i}").mkdir()  # a new disk's mount point
            store.rebuild(i, tmp_path / f"new{i}")
        assert store.health().state == "healthy"
        for cid, data in stored.items():
            assert store.get(cid) == data
    assert not members[1].exists() and not members[3].exists()
    with Store.open([members[0], members[2], members[4], tmp_path / "new1",
                     tmp_path / "new3"]) as store:
        assert store.health().state == "healthy"
        for cid, data in stored.items():
            assert store.get(cid) == data


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Mount points of tmpfs/bind mounts a test makes; all unmounted at the end."""
    made: list[Path] = []
    yield made
    for path in reversed(made):
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("how", ["tmpfs", "bind-empty", "bind-copy", "swapped-dir"])
def test_a_member_path_that_leads_elsewhere_is_failed_and_left_alone(
        tmp_path: Path, mounts: list[Path], how: str) -> None:
    members = new_array(tmp_path, 4, 1)
    rng = random.Random(2)
    victim = members[2]
    with Store.open(members) as store:
        stored = put_some(store, rng)
        if how == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "nasfs-test", victim],
                           check=True)
            mounts.append(victim)
        elif how == "bind-empty":
            other = tmp_path / "other"
            other.mkdir()
            subprocess.run(["mount", "--bind", other, victim], check=True)
            mounts.append(victim)
        elif how == "bind-copy":
            # An exact copy of the member (label and all) mounted over it: same names,
            # another filesystem object. Writing there would split the member in two.
            other = tmp_path / "other"
            shutil.copytree(victim, other, symlinks=True)
            subprocess.run(["mount", "--bind", other, victim], check=True)
            mounts.append(victim)
        else:
            os.rename(victim, tmp_path / "old")
            shutil.copytree(tmp_path / "old", victim, symlinks=True)
        before = tree(victim)
        sizes = {p: p.stat().st_size for p in victim.rglob("*") if p.is_file()}
        stored |= put_some(store, rng)
        assert store.missing == [2]
        assert tree(victim) == before
        assert {p: p.stat().st_size for p in victim.rglob("*") if p.is_file()} == sizes
        for cid, data in stored.items():
            assert store.get(cid) == data
        assert store.health().members[2].state == "missing"


def test_status_and_rebuild_reprobe_a_vanished_member(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 1)
    with Store.open(members) as store:
        store.put([b"x" * 5000])
        shutil.rmtree(members[1])
        members[1].mkdir()  # an empty mount point left behind by a pulled disk
        # No write happened since: the slot is still cached as present until probed.
        (tmp_path / "new1").mkdir()
        (tmp_path / "new1b").mkdir()
        report = store.rebuild(1, tmp_path / "new1")
        assert report.member == 1
        assert store.health().state == "healthy"
        with pytest.raises(RebuildError, match="present"):
            store.rebuild(1, tmp_path / "new1b")
    assert tree(members[1]) == []


def test_metadata_copies_never_land_on_a_replaced_member(tmp_path: Path) -> None:
    """The filesystem's database (fs.db) follows the store's verdict on a member too."""
    import trio

    from nasfs.fs import Filesystem

    members = new_array(tmp_path, 4, 1)
    victim = members[3]

    def contents() -> dict[str, bytes]:
        return {str(p.relative_to(victim)): p.read_bytes()
                for p in sorted(victim.rglob("*")) if p.is_file()}

    async def run() -> dict[str, bytes]:
        with Store.open(members) as store:
            fs = Filesystem.open(store)
            try:
                await fs.commit()
                # The member's directory is swapped for a copy of itself (label and all).
                os.rename(victim, tmp_path / "away")
                shutil.copytree(tmp_path / "away", victim, symlinks=True)
                before = contents()
                store.put([b"a write notices the member was replaced"])
                await fs.commit()
            finally:
                await fs.close()  # brings every copy it still keeps up to date
        return before

    before = trio.run(run)
    assert contents() == before


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120  # only so that a hang fails instead of blocking
    while not condition():
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.02)


def _writer(mnt: Path, synced: dict[str, bytes], stop: threading.Event) -> None:
    rng = random.Random(5)
    n = 0
    while not stop.is_set():
        n += 1
        name = f"w{n:04d}"
        data = rng.randbytes(rng.choice((3000, 150_000, 700_000)))
        try:
            with open(mnt / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            continue
        synced[name] = data


def test_two_members_moved_away_under_a_writer_on_a_mount(env: Env) -> None:  # noqa: F811
    members = [env.base / f"disk{i}" for i in range(4)]
    for m in members:
        m.mkdir()
    Store.create(members, 2, **SMALL)
    mnt = env.mountpoint()
    env.mount(mnt, members)
    synced: dict[str, bytes] = {}
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(mnt, synced, stop))
    writer.start()
    try:
        wait_for(lambda: len(synced) >= 5)
        os.rename(members[1], env.base / "gone1")
        os.rename(members[2], env.base / "gone2")
        count = len(synced)
        wait_for(lambda: len(synced) >= count + 10)
    finally:
        stop.set()
        writer.join()
    assert not members[1].exists() and not members[2].exists()
    done = env.run("status", "--json", mnt, check=False)
    assert done.returncode == 4, done.stderr  # degraded (nasfs/exitcodes.py)
    status = json.loads(done.stdout)
    assert status["state"] == "degraded"
    assert [m["state"] for m in status["members"]][1:3] == ["missing", "missing"]
    for name, data in synced.items():
        assert (mnt / name).read_bytes() == data
    for i in (1, 2):
        (env.base / f"new{i}").mkdir()
        env.run("rebuild", "--array", *members, "--disk", str(i + 1),
                "--onto", env.base / f"new{i}")
    assert env.status(mnt)["state"] == "healthy"
    for name, data in synced.items():
        assert (mnt / name).read_bytes() == data
    env.run("umount", mnt)
    assert not members[1].exists() and not members[2].exists()
