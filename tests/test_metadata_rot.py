"""Damage inside a copy of a metadata database is found and repaired, never spread.

Real arrays run by the real daemon; bytes of the database files on the member directories
are changed as a failing disk would change them (seeded, so a failing round replays with
the same flips: the seed and every flip are in the assertion message).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.metarot_util import DATABASES, Array, content_digest, flip, plain_rows, tree


@pytest.fixture
def array(tmp_path: Path) -> Iterator[Array]:
    a = Array(tmp_path)
    try:
        yield a
    finally:
        a.cleanup()


def _write_files(array: Array, seed: int, count: int = 6) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {f"dir{i % 2}/file{i}.bin": rng.randbytes(rng.randrange(1, 300_000))
             for i in range(count)}
    for name, data in files.items():
        path = array.mnt / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    return files


def _assert_copies_sound_and_equal(array: Array, why: str) -> None:
    from nasfs.db import checksums  # here, so that the tests also run (and fail) without it

    for database in DATABASES:
        copies = [array.copy(m, database) for m in range(len(array.members))]
        problems = {str(c): checksums.verify(c) for c in copies}
        assert all(not p for p in problems.values()), f"{why}: {database}: {problems}"
        digests = {content_digest(c) for c in copies}
        assert len(digests) == 1, f"{why}: the copies of {database}.db differ"


def test_flipped_chunk_id_in_an_extent_row_of_the_newest_fs_copy(array: Array) -> None:
    """The reproduction of issue 10 item 5: one byte of a chunk id in an extent row."""
    array.mount()
    files = _write_files(array, seed=10)
    array.umount()
    newest = array.copy(0, "fs")  # after a clean unmount all are equal; the first one wins
    (chunk,) = plain_rows(newest, "SELECT chunk FROM extent ORDER BY ino, idx LIMIT 1")[0]
    raw = newest.read_bytes()
    at = raw.find(chunk)
    flipped = False
    while at >= 0 and not flipped:
        flip(newest, at + 7, 0x20)
        # The table row (not an index entry) holds it when the row itself reads differently.
        if not plain_rows(newest, "SELECT 1 FROM extent WHERE +chunk = ?", chunk):
            flipped = True
        else:
            flip(newest, at + 7, 0x20)
            at = raw.find(chunk, at + 1)
    assert flipped, "the chunk id is not stored in an extent row of the copy"
    bad = bytearray(chunk)
    bad[7] ^= 0x20

    array.mount()
    for name, data in files.items():
        assert (array.mnt / name).read_bytes() == data, name
    events = array.events()
    assert _names_copy(events, newest, ("db-repaired",)), events
    array.umount()

    for m in range(len(array.members)):
        copy = array.copy(m, "fs")
        assert not plain_rows(copy, "SELECT 1 FROM extent WHERE +chunk = ?", bytes(bad)), copy
    _assert_copies_sound_and_equal(array, "after the repair")


# The seed of the random rounds; set NASFS_METAROT_SEED to replay a failing run.
SEED = int(os.environ.get("NASFS_METAROT_SEED", "1005"))
UNMOUNTED_ROUNDS = 16  # four flips in each database
MOUNTED_ROUNDS = 8


def _random_flip(array: Array, rng: random.Random, database: str) -> tuple[Path, str]:
    member = rng.randrange(len(array.members))
    copy = array.copy(member, database)
    offset = rng.randrange(copy.stat().st_size)
    mask = 1 << rng.randrange(8)
    flip(copy, offset, mask)
    return copy, f"{database}.db on member {member}, byte {offset} ^ {mask:#04x}"


def _names_copy(events: list[dict[str, Any]], copy: Path, kinds: tuple[str, ...]) -> bool:
    return any(e["kind"] in kinds and f"copy {copy}:" in e["detail"] for e in events)


def _assert_files(array: Array, files: dict[str, bytes], why: str) -> None:
    found = dict(tree(array.mnt))
    for name, data in files.items():
        assert found.get(name) == data, f"{why}: {name} lost or changed"


@pytest.mark.slow
def test_random_flips_in_unmounted_copies_of_every_database(array: Array) -> None:
    rng = random.Random(SEED)
    array.mount()
    files = _write_files(array, seed=SEED)
    array.umount()
    detected = 0
    for n in range(UNMOUNTED_ROUNDS):
        database = DATABASES[n % len(DATABASES)]
        copy, flipped = _random_flip(array, rng, database)
        why = f"seed {SEED} round {n}: {flipped}"
        array.mount()
        _assert_files(array, files, why)
        # Found at mount, whatever the byte: every page carries a checksum.
        assert _names_copy(array.events(), copy, ("db-repaired",)), f"{why}: not detected"
        detected += 1
        files.update(_write_files(array, seed=SEED + n + 1, count=1))
        array.umount()
        _assert_copies_sound_and_equal(array, why)
    print(f"metadata rot, unmounted: {UNMOUNTED_ROUNDS} flips, {detected} detected and repaired")


@pytest.mark.slow
def test_random_flips_in_copies_of_a_mounted_array(array: Array) -> None:
    rng = random.Random(SEED + 1)
    array.mount()
    files = _write_files(array, seed=SEED)
    outcomes = {"by a read": 0, "by the scrub": 0, "rewritten before the scrub": 0}
    for n in range(MOUNTED_ROUNDS):
        database = DATABASES[n % len(DATABASES)]
        copy, flipped = _random_flip(array, rng, database)
        why = f"seed {SEED + 1} round {n}: {flipped}"
        # Work that reads and writes every database: files (fs, store), a user (policy),
        # the access log (audit).
        files.update(_write_files(array, seed=SEED + 100 + n, count=2))
        array.run("user", "add", f"user{n}", "--uid", str(30000 + n), "--no-password",
                  "--array", *array.members)
        _assert_files(array, files, why)
        seen = _names_copy(array.events(), copy, ("db-failed", "db-repaired"))
        report = json.loads(array.run("scrub", "--json", "--array", *array.members).stdout)
        found = [line for line in report["report"]["metadata_damaged"]
                 if f"copy {copy}:" in line]
        assert report["report"]["unrecoverable"] == [], f"{why}: {report}"
        assert checksums_of(copy) == [], f"{why}: still damaged after the scrub"
        if seen:
            outcomes["by a read"] += 1
        elif found:
            outcomes["by the scrub"] += 1
        else:
            # SQLite rewrote that page itself before anything read it: no damage was left
            # when the scrub verified the copy.
            outcomes["rewritten before the scrub"] += 1
        array.umount()
        _assert_copies_sound_and_equal(array, why)
        array.mount()
        _assert_files(array, files, why)
    array.umount()
    print(f"metadata rot, mounted: {MOUNTED_ROUNDS} flips, detected {outcomes}")


def checksums_of(copy: Path) -> list[str]:
    from nasfs.db import checksums

    return checksums.verify(copy)
