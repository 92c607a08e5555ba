"""`nasfs mkfs / scrub / rebuild / compact` on real member directories (offline)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from nasfs.cli.main import main
from nasfs.store import Store
from tests.store_util import make_members


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "nasfs.toml"
    config.write_text(f'[daemon]\nrun_dir = "{tmp_path / "run"}"\n')
    return config


def test_mkfs_scrub_rebuild_compact(tmp_path: Path, run_dir: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    members = make_members(tmp_path, 4)
    assert main(["mkfs", "--parity", "1", *map(str, members)]) == 0
    assert "created array" in capsys.readouterr().out
    with Store.open(members) as store:
        data = [os.urandom(70_000) for _ in range(30)]
        ids = store.put(data)
        store.release(ids[:20])
    shutil.rmtree(members[2])
    cfg = ["--config", str(run_dir)]
    assert main(["--json", "scrub", "--array", *map(str, members), *cfg]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["degraded_stripes"] > 0 and report["unrecoverable"] == []
    new = tmp_path / "new"
    new.mkdir()
    assert main(["rebuild", "--array", *map(str, members), "--disk", "3", "--onto", str(new),
                 *cfg]) == 0
    assert "rebuild:" in capsys.readouterr().out
    now = [members[0], members[1], new, members[3]]
    assert main(["compact", "--array", *map(str, now), "--min-dead", "0.1", *cfg]) == 0
    assert "compact:" in capsys.readouterr().out
    with Store.open(now) as store:
        assert store.health().state == "healthy"
        assert [store.get(c) for c in ids[20:]] == data[20:]
    assert main(["mkfs", *map(str, now[:3])]) == 1
    assert "is not empty" in capsys.readouterr().err
