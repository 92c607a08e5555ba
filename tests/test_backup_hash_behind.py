"""Hashing a local generation while rsync copies (nasfs.backup.hash_behind): the digests of
a real rsync's files, taken from its --out-format lines, are those of the files' final
bytes; manifest.build_local uses such a digest only while the file is exactly the inode,
size, mtime and ctime that was read, and reads the file itself otherwise; through the
daemon a run's manifest names the source's digests and verify still finds a damaged copy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from nasfs.backup import hash_behind, manifest, tools
from nasfs.backup.hash_behind import HashBehind
from nasfs.backup.manifest import Hashed, state_key
from nasfs.backup.places import LocalPlace
from tests.backup_util import add_folder_job, backup_nas, cli, run_job
from tests.fuse_policy_util import PolicyMount


def real_digest(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def entries_of(folder: Path, hashed: dict[str, Hashed]) -> dict[str, manifest.Entry]:
    place = LocalPlace(folder.parent, hardlinks=True, posix=True)
    return {e.path: e for e in manifest.build_local(folder, place.stats(folder.name), {},
                                                    hashed=hashed)}


def test_out_format_lines_name_the_sent_file() -> None:
    assert hash_behind.sent_path(b"nasfs-sent 4096 d00/f00001.txt") == "d00/f00001.txt"
    assert hash_behind.sent_path(b"nasfs-sent 0 d00/") is None  # a folder
    assert hash_behind.sent_path(b"nasfs-sent 12 a b\\#012c") == "a b\nc"
    assert hash_behind.sent_path(b"   1,000  10%  1.00MB/s  0:00:00") is None
    assert hash_behind.sent_path(b"nasfs-sent 4096 small.txt", min_bytes=1 << 20) is None
    assert hash_behind.sent_path(b"nasfs-sent 1048576 big.bin", min_bytes=1 << 20) == "big.bin"


def test_a_real_rsync_is_hashed_while_it_copies(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    for i in range(12):
        (src / "sub" / f"f{i:02}").write_bytes(os.urandom(hash_behind.MIN_BYTES + i))
    (src / "odd name\nwith newline").write_bytes(os.urandom(hash_behind.MIN_BYTES))
    (src / "small").write_bytes(b"left to the manifest")
    (src / "link").symlink_to("sub/f00")
    dst.mkdir()
    hasher = HashBehind(dst)
    code, err = tools.run(["rsync", hash_behind.OUT_FORMAT, "-a", f"{src}/", f"{dst}/"],
                          tools.Progress(), lambda: False, on_line=hasher.line)
    assert code == 0, err
    digests = hasher.finish()
    files = sorted(str(p.relative_to(dst)) for p in dst.rglob("*")
                   if p.is_file() and not p.is_symlink())
    # Every regular file of at least MIN_BYTES; no folder, link or small file.
    assert sorted(digests) == [f for f in files if f != "small"]
    for path, hashed in digests.items():
        assert hashed.blake3 == real_digest(dst / path)
        assert hashed.key == state_key(os.lstat(dst / path))
    built = entries_of(dst, digests)
    assert {p: e.blake3 for p, e in built.items()} == {p: real_digest(dst / p) for p in files}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"A" * 10_000)
    return folder


def test_a_digest_whose_file_is_unchanged_is_used(copy: Path) -> None:
    # A made-up digest with the file's exact state is taken as it is: that is the shortcut.
    key = state_key(os.lstat(copy / "a.bin"))
    assert entries_of(copy, {"a.bin": Hashed(key, "f" * 64)})["a.bin"].blake3 == "f" * 64


def test_a_file_changed_in_place_after_being_hashed_is_hashed_again(copy: Path) -> None:
    target = copy / "a.bin"
    early = hash_behind.hash_file(target)
    assert early is not None
    st = os.lstat(target)
    with open(target, "r+b") as f:  # same size, and the mtime put back: only ctime tells
        f.write(b"B")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.lstat(target)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns,
                                                                st.st_ino)
    entry = entries_of(copy, {"a.bin": early})["a.bin"]
    assert entry.blake3 == real_digest(target) != early.blake3


def test_a_file_replaced_after_being_hashed_is_hashed_again(copy: Path) -> None:
    target = copy / "a.bin"
    early = hash_behind.hash_file(target)
    assert early is not None
    st = os.lstat(target)
    # As rsync replaces a file: a new inode renamed over it, with the old size and mtime.
    tmp = copy / ".a.bin.XXXXXX"
    tmp.write_bytes(b"C" * 10_000)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, target)
    entry = entries_of(copy, {"a.bin": early})["a.bin"]
    assert entry.blake3 == real_digest(target) != early.blake3


def test_a_file_gone_after_being_hashed_is_not_named(copy: Path) -> None:
    early = hash_behind.hash_file(copy / "a.bin")
    assert early is not None
    (copy / "a.bin").unlink()
    (copy / "b.bin").write_bytes(b"b")
    assert set(entries_of(copy, {"a.bin": early})) == {"b.bin"}


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def test_a_run_names_the_sources_digests_and_verify_finds_a_damaged_copy(
        nas: PolicyMount, tmp_path: Path) -> None:
    docs, dest = nas.mnt / "docs", tmp_path / "dest"
    (docs / "big").mkdir()
    for i in range(6):
        (docs / "big" / f"part{i}.bin").write_bytes(os.urandom(3 << 20))
    for i in range(200):
        (docs / f"small{i:03}.txt").write_bytes(os.urandom(700 + i))
    add_folder_job(nas, "docs", dest)
    done = run_job(nas, "docs")
    text = (dest / "docs" / f"{done['generation']}.manifest").read_text()
    named = {p: e.blake3 for p, e in manifest.loads(text).items()}
    source = {str(p.relative_to(docs)): p for p in docs.rglob("*") if p.is_file()}
    assert named == {rel: real_digest(p) for rel, p in source.items()
                     if not rel.startswith("#")}  # not the kept base in #snapshot
    damaged = dest / "docs" / done["generation"] / "big" / "part3.bin"
    with open(damaged, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"rot")
    checked = cli(nas, "--json", "backup", "verify", "docs")
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["changed"] == ["big/part3.bin"]
