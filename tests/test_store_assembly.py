"""mkfs and assembly: labels, and every refusal names the directory and what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nasfs.store import AssemblyError, MkfsError, Store
from nasfs.store.errors import SplitArrayError, StaleMemberError
from nasfs.store.label import label_path
from tests.store_util import SMALL, make_members, new_array


def test_mkfs_writes_a_label_on_every_member(tmp_path: Path) -> None:
    members = make_members(tmp_path, 4)
    label = Store.create(members, 2)
    bodies = [json.loads(label_path(m).read_text()) for m in members]
    assert [b["index"] for b in bodies] == [0, 1, 2, 3]
    assert {b["array_uuid"] for b in bodies} == {label.array_uuid}
    assert len({b["member_uuid"] for b in bodies}) == 4
    assert all(b["generation"] == 1 and b["nparity"] == 2 for b in bodies)
    assert not list(tmp_path.rglob("*.tmp"))


def test_mkfs_refuses_non_empty_unless_forced(tmp_path: Path) -> None:
    members = make_members(tmp_path, 3)
    (members[1] / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(MkfsError, match=f"{members[1]} is not empty"):
        Store.create(members, 1)
    assert not label_path(members[0]).exists()
    Store.create(members, 1, force=True)
    assert (members[1] / "holiday.jpg").exists()


@pytest.mark.parametrize(("count", "p", "why"), [
    (2, 1, "needs 3 to 16"), (17, 1, "needs 3 to 16"), (3, 2, "needs at least 4"),
    (4, 3, "must be 1 or 2"),
])
def test_mkfs_refuses_bad_geometry(tmp_path: Path, count: int, p: int, why: str) -> None:
    with pytest.raises(MkfsError, match=why):
        Store.create(make_members(tmp_path, count), p)


def test_mkfs_refuses_a_missing_directory(tmp_path: Path) -> None:
    members = make_members(tmp_path, 3)
    with pytest.raises(MkfsError, match=f"{tmp_path / 'nope'} is not a directory"):
        Store.create([*members[:2], tmp_path / "nope"], 1)


def test_foreign_member_is_refused(tmp_path: Path) -> None:
    ours = new_array(tmp_path / "a", 4, 1)
    theirs = new_array(tmp_path / "b", 3, 1)
    with pytest.raises(AssemblyError, match=f"{theirs[0]} is a member of another array"):
        Store.open([*ours[:3], theirs[0]])


def test_stale_member_is_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 1)
    away = tmp_path / "away"
    shutil.move(members[2], away)
    with Store.open(members) as store:  # degraded: generation bumped on the others
        store.put([b"written while slot 2 was away"])
    shutil.move(away, members[2])
    stale = rf"{members[2]} \(disk 3\) is a stale member .*generation 1,"
    with pytest.raises(AssemblyError, match=stale):
        Store.open(members)
    with Store.open([m for m in members if m != members[2]]) as store:
        assert store.health().missing == [2]


def test_duplicate_member_is_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 3, 1)
    copy = tmp_path / "copy"
    shutil.copytree(members[1], copy)
    with pytest.raises(AssemblyError, match="both claim disk 2"):
        Store.open([*members, copy])
    with pytest.raises(AssemblyError, match="given twice"):
        Store.open([*members, members[0]])


def test_stranger_directory_is_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 3, 1)
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "a.jpg").write_bytes(b"x")
    with pytest.raises(AssemblyError, match=f"{stranger} is not a nasfs array member"):
        Store.open([*members, stranger])
    with pytest.raises(AssemblyError, match=f"{stranger / 'a.jpg'} is not a directory"):
        Store.open([*members, stranger / "a.jpg"])


def test_too_few_members_is_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 5, 2, **SMALL)
    with pytest.raises(AssemblyError,
                       match=r"too few members .*: 2 of 5 present.*missing: disks 3, 4 and 5"):
        Store.open(members[:2])
    with Store.open(members[:3]) as store:
        assert store.health().state == "degraded"


def test_corrupt_label_is_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 3, 1)
    label_path(members[0]).write_text("{not json")
    with pytest.raises(AssemblyError, match=f"{members[0]} has an unreadable nasfs label"):
        Store.open(members)


def test_split_halves_are_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 2)
    with Store.open(members[:2]) as store:
        store.put([b"left" * 5000])
    with Store.open(members[2:]) as store:
        store.put([b"right" * 5000])
    with pytest.raises(SplitArrayError, match=r"disks 1 and 2.*disks 3 and 4.*choose-side"):
        Store.open(members)
    # Each side alone still opens (degraded): looking at one side changes nothing.
    with Store.open(members[:2]) as store:
        assert store.health().state == "degraded"
    with pytest.raises(SplitArrayError):
        Store.open(members)


def test_member_put_back_from_an_old_copy_is_refused(tmp_path: Path) -> None:
    members = new_array(tmp_path, 4, 1)
    with Store.open(members) as store:
        store.put([b"before the copy" * 1000])
        shutil.copytree(members[1], tmp_path / "copy")
        store.put([bytes([i]) * 300_000 for i in range(4)])
    shutil.rmtree(members[1])
    shutil.move(tmp_path / "copy", members[1])
    with pytest.raises(StaleMemberError, match=rf"{members[1]} \(disk 2\) .*behind the rest"):
        Store.open(members)
    with Store.open([m for m in members if m != members[1]]) as store:
        assert store.health().missing == [1]
