"""One name for a disk everywhere a person looks: "disk N", counting from 1.

The same missing member is checked in `nasfs status`, `nasfs rebuild` (argument and
errors), the store's event and log text, and the recovery shell; the internal index (from
0) appears in none of them.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import pytest

from nasfs.cli.main import main
from nasfs.store import Store, StoreEvent
from nasfs.store.disks import disk_index, disk_name, disk_names
from tests.store_util import make_members


def test_disk_numbers_count_from_one() -> None:
    assert disk_name(0) == "disk 1"
    assert disk_names([3, 1]) == "disks 2 and 4"
    assert disk_names([0, 1, 2]) == "disks 1, 2 and 3"
    assert disk_index("3") == 2 and disk_index("disk 3") == 2
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="numbered from 1"):
            disk_index(bad)


@pytest.fixture
def degraded(tmp_path: Path) -> tuple[list[Path], Path]:
    """Four members, the third one (disk 3) gone; and a config naming the run dir."""
    members = make_members(tmp_path, 4)
    Store.create(members, 1)
    shutil.rmtree(members[2])
    config = tmp_path / "nasfs.toml"
    config.write_text(f'[daemon]\nrun_dir = "{tmp_path / "run"}"\n')
    return members, config


def test_status_rebuild_and_logs_say_disk_3(degraded: tuple[list[Path], Path],
                                            capsys: pytest.CaptureFixture[str],
                                            caplog: pytest.LogCaptureFixture) -> None:
    members, config = degraded
    events: list[StoreEvent] = []
    with caplog.at_level(logging.WARNING), Store.open(members, events=events.append) as store:
        assert store.health().summary() == "degraded: disk 3 missing"
    assert [e.detail for e in events if e.kind == "member-missing"] == ["disk 3 is missing"]
    assert "member-missing disk 3 " in caplog.text and "member=" not in caplog.text

    main(["status", "--array", *map(str, members), "--config", str(config)])
    out = capsys.readouterr().out
    assert "  disk 3   missing  (absent)" in out and "4 disks" in out
    assert "slot" not in out and "member" not in out

    present = ["rebuild", "--array", *map(str, members), "--config", str(config),
               "--disk", "2", "--onto", str(members[2])]
    assert main(present) != 0
    assert "disk 2 is present" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rebuild", "--array", *map(str, members), "--disk", "0", "--onto", "x"])
    assert "disks are numbered from 1" in capsys.readouterr().err
    members[2].mkdir()  # the new disk's mount point
    assert main(["rebuild", "--array", *map(str, members), "--config", str(config),
                 "--disk", "3", "--onto", str(members[2])]) == 0
    assert "rebuild: disk 3, " in capsys.readouterr().out


def test_recovery_shell_names_disks_by_number(degraded: tuple[list[Path], Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    members, config = degraded
    main(["recovery", "--array", *map(str, members), "--config", str(config),
          "--run", "status", "--run", "check"])
    out = capsys.readouterr().out
    assert "disk 3 is missing" in out and "(disk 4)" in out
    assert "slot" not in out and "member 2" not in out
