"""Capacity mail on a real tiny array: thresholds before the reserve, then "full" once."""

from __future__ import annotations

from pathlib import Path

from nasfs.mail.notices import Notice
from nasfs.mail.watch import ArrayWatch
from nasfs.store import Store, StoreFullError
from tests.space_util import MIB, tmpfs_members
from tests.store_util import SMALL


def test_thresholds_come_before_the_reserve_and_full_says_what_to_do(tmp_path: Path) -> None:
    with tmpfs_members(tmp_path, [16] * 4) as members:
        Store.create(members, 1, **SMALL)
        with Store.open(members) as store:
            sent: list[Notice | None] = []
            watch = ArrayWatch(store, sent.append, lambda: {"mail.capacity_percent": [80, 95]})
            watch.check()
            assert sent == []
            free = store.capacity().free_bytes
            store.space.charge(int(free * 0.85) * 4 // 3)  # raw bytes: data and parity
            watch.check()
            assert [n.subject for n in sent if n] == ["The array is 85 % full (over 80 %)"]
            try:
                while True:
                    store.space.charge(store.space.cost(64 << 10))
            except StoreFullError:
                pass
            watch.check()
            watch.check()
            subjects = [n.subject for n in sent if n]
            assert subjects[1:] == ["The array is 100 % full (over 95 %)",
                                    "The array is FULL: writes are failing"]
            body = sent[-1].body if sent[-1] else ""
            assert "purge the trash" in body and "snapshot" in body and "add capacity" in body
            # The reserve is still there: what files could not take is not all gone.
            assert store.capacity().reserve_free_bytes > MIB
