"""Scrub covers every copy of every metadata database: damage anywhere in a copy is found
(page checksums, then integrity_check), rewritten from a sound copy, reported in the scrub
result and mailed; online through a real daemon, and offline by `nasfs scrub`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from mail_util import Inbox, Running, members, run_dir, running, smtp, wait_until

from nasfs.db import checksums
from tests.metarot_util import Array, flip

__all__ = ["members", "run_dir", "running", "smtp"]  # fixtures


def _db(member: Path, name: str) -> Path:
    return member / "nasfs" / "db" / f"{name}.db"


def _flip_somewhere(path: Path, rng: random.Random) -> None:
    flip(path, rng.randrange(path.stat().st_size), 1 << rng.randrange(8))


async def test_scrub_finds_and_repairs_every_damaged_copy_and_mails(
        running: Running, members: list[Path], smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await running.settings(mail_host="127.0.0.1", mail_port=port, mail_starttls=False,
                           mail_to="admin@example.com", mail_enabled=True)
    rng = random.Random(7)
    # The primary (first member), the synchronous copy and a lagging one, in three databases
    # (store.db's lagging copies are refreshed only at close, so nothing rewrites this one
    # before the scrub looks).
    damaged = [_db(members[0], "policy"), _db(members[1], "audit"), _db(members[-1], "store")]
    for path in damaged:
        _flip_somewhere(path, rng)
        assert checksums.verify(path), f"the flip in {path} is not visible"

    report = (await running.call(lambda c: c.scrub())).report

    assert report["metadata_copies"] == 3 * len(members)  # store, policy, audit (no mount)
    for path in damaged:
        assert any(f"copy {path}:" in line for line in report["metadata_damaged"]), report
        assert any(f"copy {path}:" in line for line in report["metadata_repairs"]), report
        assert checksums.verify(path) == [], path
    assert report["metadata_repaired"] == len(damaged)
    assert report["unrecoverable"] == []
    message = await wait_until(lambda: inbox.find("Scrub finished"), "the scrub mail")
    assert f"metadata repaired {len(damaged)}" in message.get_content()
    # Each damaged copy is also mailed on its own (what a disk did, and what to watch for).

    def damage_mails() -> bool:
        with inbox.lock:
            bodies = [m.get_content() for m in inbox.messages
                      if "metadata was damaged" in str(m["Subject"])]
        return all(any(str(path) in body for body in bodies) for path in damaged)

    await wait_until(damage_mails, "a damage mail for every damaged copy")
    # A scrub after the repair finds nothing.
    again = (await running.call(lambda c: c.scrub())).report
    assert again["metadata_damaged"] == [] and again["metadata_repaired"] == 0


async def test_scrub_without_repair_only_reports(running: Running, members: list[Path]) -> None:
    path = _db(members[-1], "store")
    _flip_somewhere(path, random.Random(8))
    report = (await running.call(lambda c: c.scrub(repair=False))).report
    assert any(f"copy {path}:" in line for line in report["metadata_damaged"])
    assert any(f"copy {path}:" in line for line in report["unrecoverable"])
    assert checksums.verify(path), "--no-repair changed the copy"


@pytest.fixture
def array(tmp_path: Path) -> Iterator[Array]:
    a = Array(tmp_path)
    try:
        yield a
    finally:
        a.cleanup()


def test_offline_scrub_covers_every_database(array: Array) -> None:
    array.mount()
    (array.mnt / "a.txt").write_bytes(b"some data\n")
    array.umount()
    rng = random.Random(9)
    damaged = [_db(array.members[i], name) for i, name in enumerate(("store", "fs", "policy",
                                                                      "audit"))]
    for path in damaged:
        _flip_somewhere(path, rng)
    done = array.run("scrub", "--json", "--array", *array.members)
    report = json.loads(done.stdout)["report"]
    assert report["metadata_copies"] == 4 * len(array.members)
    # store.db's damaged copy is repaired when the scrub opens the store; reported all the same.
    for path in damaged:
        assert any(f"copy {path}:" in line for line in report["metadata_repairs"]), report
    assert report["metadata_repaired"] == len(damaged)
    for path in damaged:
        assert checksums.verify(path) == [], path
    array.mount()
    assert (array.mnt / "a.txt").read_bytes() == b"some data\n"
    array.umount()
