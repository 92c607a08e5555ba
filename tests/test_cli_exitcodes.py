"""Exit codes that tell the truth: `status`, `scrub` and `rebuild` as real subprocesses, on
real member directories, offline and through a real daemon (nasfs.exitcodes has the table).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import test_cli_mount
from test_cli_mount import Env, one_line_error

from nasfs import exitcodes
from nasfs.store import Store
from nasfs.store.segments import list_segment_files
from tests.diskfail_util import ext4_disks

env = test_cli_mount.env


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        os.fsync(f.fileno())


def fill_offline(members: list[Path], count: int = 8) -> None:
    with Store.open(members) as store:
        store.put([os.urandom(50_000) for _ in range(count)])


def damage_first_stripe(members: list[Path]) -> None:
    """Flip the first bytes of the first segment on each member given (beyond parity 1 when
    two are given: the stripe there is unrecoverable)."""
    for member in members:
        segment = sorted(list_segment_files(member).items())[0][1]
        with open(segment, "r+b") as f:
            data = f.read(256)
            f.seek(0)
            f.write(bytes(b ^ 0xFF for b in data))


def refused(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """Exit `code`, and the last line of stderr (offline opens log warnings before it) is
    the one-line error."""
    assert done.returncode == code, (done.returncode, done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("nasfs: ") and text in last, done.stderr


def events_of(env: Env, mnt: Path) -> list[str]:
    return [e["kind"] for e in env.status(mnt)["events"]]


# -- status -----------------------------------------------------------------------------

def test_status_exit_codes(env: Env) -> None:
    members = env.members()
    assert env.run("status", "--array", *members).returncode == exitcodes.OK
    shutil.rmtree(members[1])
    done = env.run("status", "--array", *members, check=False)
    assert done.returncode == exitcodes.DEGRADED, done.stderr
    assert "DEGRADED" in done.stdout
    assert json.loads(env.run("status", "--json", "--array", *members,
                              check=False).stdout)["state"] == "degraded"
    nothing = env.mountpoint()
    assert env.run("status", nothing, check=False).returncode == exitcodes.NOT_REACHABLE


def test_a_reader_that_went_away_is_no_traceback(env: Env) -> None:
    """`nasfs status | head -1`: the reader closes the pipe; nasfs ends as a SIGPIPE'd
    command would (141), without a traceback."""
    members = env.members()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before nasfs writes its first line
    try:
        done = subprocess.run([*test_cli_mount.NASFS, "status", "--array", *map(str, members)],
                              env=env.environ, cwd=test_cli_mount.REPO, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 141 and "Traceback" not in done.stderr, done.stderr


# -- scrub ------------------------------------------------------------------------------

def test_scrub_with_unrecoverable_data_exits_1_offline_and_through_the_daemon(env: Env) -> None:
    members = env.members()
    fill_offline(members)
    damage_first_stripe(members[:2])
    offline = env.run("scrub", "--json", "--no-repair", "--array", *members, check=False)
    assert offline.returncode == exitcodes.FAILED, offline.stderr
    assert json.loads(offline.stdout)["report"]["unrecoverable"]

    mnt = env.mountpoint()
    env.mount(mnt, members)
    through = env.run("scrub", "--json", "--array", *members, check=False)
    assert through.returncode == exitcodes.FAILED, through.stderr
    assert json.loads(through.stdout)["report"]["unrecoverable"]


def test_clean_scrub_exits_0_through_the_daemon(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    write_synced(mnt / "f.bin", os.urandom(200_000))
    assert env.run("scrub", "--array", *members).returncode == exitcodes.OK


# -- rebuild ----------------------------------------------------------------------------

def test_mistyped_rebuild_through_the_daemon_is_an_argument_error(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    new = env.base / "new"
    new.mkdir()
    one_line_error(env.run("rebuild", "--array", *members, "--disk", "2", "--onto", new,
                           check=False), exitcodes.USAGE, "disk 2 is present")
    one_line_error(env.run("rebuild", "--array", *members, "--disk", "8", "--onto", new,
                           check=False), exitcodes.USAGE, "there is no disk 8")
    kinds = events_of(env, mnt)
    # Nothing started, so nothing "stopped with an error": no event the mailer turns into
    # "Rebuild stopped with an error".
    assert not [k for k in kinds if k.startswith("rebuild-")], kinds
    assert list(new.iterdir()) == []


def test_mistyped_rebuild_offline_is_an_argument_error(env: Env) -> None:
    members = env.members()
    shutil.rmtree(members[2])
    refused(env.run("rebuild", "--array", *members, "--disk", "3", "--onto",
                           members[0], check=False), exitcodes.USAGE,
                   "is disk 1 of this array already")
    refused(env.run("rebuild", "--array", *members, "--disk", "1", "--onto",
                           env.base, check=False), exitcodes.USAGE, "disk 1 is present")


def test_rebuild_onto_a_missing_directory_is_refused(env: Env) -> None:
    members = env.members()
    shutil.rmtree(members[2])
    typo = env.base / "disk-nwe"
    refused(env.run("rebuild", "--array", *members, "--disk", "3", "--onto", typo,
                           check=False), exitcodes.USAGE, f"{typo} does not exist")
    assert not typo.exists()
    a_file = env.base / "a-file"
    a_file.write_text("x")
    refused(env.run("rebuild", "--array", *members, "--disk", "3", "--onto", a_file,
                           check=False), exitcodes.USAGE, "is not a directory")


def test_relative_rebuild_target_is_stored_absolute(env: Env) -> None:
    members = env.members()
    fill_offline(members)
    shutil.rmtree(members[2])
    (env.base / "new").mkdir()
    done = env.run("--json", "rebuild", "--array", *members, "--disk", "3", "--onto", "new",
                   cwd=env.base)
    assert json.loads(done.stdout)["report"]["onto"] == str(env.base / "new")
    with Store.open([members[0], members[1], env.base / "new"]) as store:
        assert store.present[2] == env.base / "new"
        assert store.health().state == "healthy"


def test_rebuild_with_unrecoverable_data_exits_1(env: Env) -> None:
    members = env.members()
    fill_offline(members)
    damage_first_stripe(members[:1])
    shutil.rmtree(members[2])
    new = env.base / "new"
    new.mkdir()
    done = env.run("--json", "rebuild", "--array", *members, "--disk", "3", "--onto", new,
                   check=False)
    assert done.returncode == exitcodes.FAILED, done.stderr
    assert json.loads(done.stdout)["report"]["unrecoverable"]


def test_rebuild_onto_a_disk_too_small_stops_on_a_line_of_its_own(env: Env) -> None:
    # The new disk fills up halfway (a real ext4 image of 4 MiB for 6 MiB of shards): the
    # rebuild stops with its one-line error, on a line after its progress line.
    members = env.members()
    with Store.open(members) as store:
        store.put([os.urandom(1 << 20) for _ in range(12)])
    shutil.rmtree(members[2])
    with ext4_disks(env.base, ["small-disk"], mib=4) as (new,):
        done = env.run("rebuild", "--array", *members[:2], "--disk", "3", "--onto", new,
                       check=False)
    assert done.returncode == exitcodes.FAILED, done.stderr
    assert "% " in done.stderr  # the progress line was shown
    assert done.stderr.endswith("\n") and "Traceback" not in done.stderr
    last = done.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith("nasfs: the rebuild of disk 3 onto "), done.stderr
    assert "No space left on device" in last
