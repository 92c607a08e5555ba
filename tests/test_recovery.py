"""`nasfs recovery` on real arrays: status, check, salvage, metadata restore, degraded and
damaged metadata (one-shot mode, in process; the CLI itself in test_recovery_cli.py)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.recovery_util import corrupt_db, new_members, populate, run, tree


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


async def test_healthy_array_status_and_clean_check(tmp_path: Path, run_dir: Path) -> None:
    members = new_members(tmp_path)
    await populate(members)
    code, out, err = run(members, run_dir, "status", "check --full")
    assert code == 0, out + err
    assert "healthy" in out
    assert "fs.db:" in out and "store catalog" in out
    assert "check: clean" in out
    assert err == ""


async def test_salvage_copies_byte_exact_with_attributes(tmp_path: Path, run_dir: Path) -> None:
    members = new_members(tmp_path)
    files = await populate(members)
    dest = tmp_path / "out"
    code, out, err = run(members, run_dir, f"salvage {dest}")
    assert code == 0, out + err
    assert tree(dest) == files
    assert os.readlink(dest / "docs" / "link-to-big") == "../big.bin"
    assert os.stat(dest / "big.bin").st_ino == os.stat(dest / "docs" / "big-hardlink").st_ino
    st = os.stat(dest / "docs" / "note0.txt")
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 1001
    assert stat.S_IMODE(os.stat(dest / "docs").st_mode) == 0o750
    # A second run adds nothing and overwrites nothing.
    code, out, _ = run(members, run_dir, f"salvage {dest}")
    assert code == 0 and "exists already" in out
    # One folder alone: its contents land in the destination.
    code, out, _ = run(members, run_dir, f"salvage {tmp_path / 'one'} /docs")
    assert code == 0
    assert tree(tmp_path / "one") == {p[len("docs/"):]: d for p, d in files.items()
                                      if p.startswith("docs/")}
    # One file alone.
    code, out, _ = run(members, run_dir, f"salvage {tmp_path / 'file'} /docs/note1.txt")
    assert code == 0 and tree(tmp_path / "file") == {"note1.txt": files["docs/note1.txt"]}
    code, _, err = run(members, run_dir, f"salvage {tmp_path / 'x'} /nope")
    assert code == 1 and err == "nasfs: there is no '/nope' in the array (no 'nope')\n"


async def test_salvage_refuses_a_destination_inside_the_array(tmp_path: Path,
                                                              run_dir: Path) -> None:
    members = new_members(tmp_path)
    await populate(members, small_files=1)
    code, _, err = run(members, run_dir, f"salvage {members[1] / 'out'}")
    assert code == 1
    assert err.strip().splitlines() == [
        f"nasfs: {members[1] / 'out'} is inside {members[1]}, a disk of the array; salvage "
        "needs a directory on another disk"]


async def test_one_member_missing(tmp_path: Path, run_dir: Path) -> None:
    members = new_members(tmp_path)
    files = await populate(members)
    shutil.rmtree(members[2])
    code, out, err = run(members, run_dir, "status", "check", f"salvage {tmp_path / 'out'}")
    assert code == 1, out + err  # check found the missing member
    assert "degraded" in out
    assert "FOUND members: disk 3 is missing" in out
    assert tree(tmp_path / "out") == files


async def test_two_members_gone_salvage_lists_lost_files(tmp_path: Path,
                                                         run_dir: Path) -> None:
    members = new_members(tmp_path)
    files = await populate(members)
    shutil.rmtree(members[0])
    shutil.rmtree(members[1])
    dest = tmp_path / "out"
    code, out, err = run(members, run_dir, "status", f"salvage {dest}")
    assert code == 1, out + err
    assert "failed (too many members missing)" in out
    got = tree(dest)
    lost = [line for line in out.splitlines() if line.strip().startswith("LOST ")]
    assert any("/big.bin" in line for line in lost)  # a full-width stripe: gone
    assert got, "some small files live in stripes a surviving member holds"
    for path, data in got.items():
        assert files[path] == data  # never garbage
    assert len(got) + len(lost) == len(files)
    assert not any(name.endswith(".salvage-partial") for name in os.listdir(dest / "docs"))
    # Writing commands say why they cannot run.
    code, _, err = run(members, run_dir, "scrub")
    assert code == 1 and "needs an assembled array" in err and len(err.splitlines()) == 1


async def test_every_fs_copy_but_one_corrupt(tmp_path: Path, run_dir: Path) -> None:
    members = new_members(tmp_path)
    files = await populate(members)
    for m in members[:3]:
        corrupt_db(m / "nasfs" / "db" / "fs.db")
    code, out, err = run(members, run_dir, "status", "check", f"salvage {tmp_path / 'out'}")
    assert code == 1, out + err
    assert out.count("unreadable") + out.count("corrupt") >= 3
    for number in (1, 2, 3):
        assert f"FOUND metadata: fs.db on disk {number}:" in out
    assert "namespace: walked" in out  # the good copy was used
    assert tree(tmp_path / "out") == files


async def test_metadata_restore_keeps_backups(tmp_path: Path, run_dir: Path) -> None:
    members = new_members(tmp_path)
    files = await populate(members)
    for m in members[:3]:
        corrupt_db(m / "nasfs" / "db" / "fs.db")
    code, out, err = run(members, run_dir, "metadata restore --from 1")
    assert code == 1 and "cannot be a source" in err, out + err
    code, out, err = run(members, run_dir, "metadata restore --from 4 --db fs", "check --full")
    assert code == 0, out + err
    assert "check: clean" in out
    for m in members[:3]:
        backups = list((m / "nasfs" / "db").glob("fs.db.before-restore-*"))
        assert len(backups) == 1
        assert b"not a database" in backups[0].read_bytes()[:64]
    assert not list((members[3] / "nasfs" / "db").glob("*.before-restore-*"))
    code, out, _ = run(members, run_dir, f"salvage {tmp_path / 'out'}")
    assert code == 0 and tree(tmp_path / "out") == files


async def test_restore_of_all_databases_from_an_older_copy(tmp_path: Path,
                                                           run_dir: Path) -> None:
    members = new_members(tmp_path)
    await populate(members, small_files=2)
    code, out, err = run(members, run_dir, "metadata restore --from 2", "metadata")
    assert code == 0, out + err
    assert "store, fs restored from disk 2" in out
    for m in (members[0], members[2], members[3]):
        names = sorted({p.name.split(".before")[0] for p in
                        (m / "nasfs" / "db").glob("*.before-restore-*")})
        assert names == ["fs.db", "store.db"]


async def test_check_names_a_damaged_shard(tmp_path: Path, run_dir: Path) -> None:
    members = new_members(tmp_path)
    await populate(members, small_files=2)
    seg = sorted((members[1] / "nasfs" / "segments").glob("*.seg"))[0]
    data = bytearray(seg.read_bytes())
    assert any(data), "member 1 holds shards"
    first = next(i for i, b in enumerate(data) if b)
    data[first] ^= 0xFF
    seg.write_bytes(bytes(data))
    code, out, _ = run(members, run_dir, "check --full")
    assert code == 1
    assert "on disk 2" in out and "'scrub' repairs them" in out
    code, out, err = run(members, run_dir, "scrub", "check --full")
    assert code == 0, out + err
    assert "1 shard(s) repaired" in out and "check: clean" in out
