"""Backups through a real daemon to a folder on this box: the CLI, generations from
snapshots, hard links between generations, manifests and verify, restore byte-exact with
modes, owners, times and xattrs, and the job model's round trip through policy.db."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import add_folder_job, backup_nas, cli, make_tree, picture, run_job
from tests.fuse_policy_util import PolicyMount
from tests.mail_util import Inbox, smtp

__all__ = ["smtp"]  # fixture


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path) as m:
        yield m


def test_jobs_are_added_listed_edited_and_deleted(nas: PolicyMount, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    out = cli(nas, "backup", "add", "nightly", "--source", "docs/reports", "--folder",
              str(dest), "--schedule", "0 2 * * *", "--keep-last", "7", "--exclude", "*.tmp")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("backup job nightly added: docs/reports → folder ")
    again = cli(nas, "backup", "add", "nightly", "--source", "docs", "--folder", str(dest))
    assert again.returncode == 1 and "exists already" in again.stderr
    no_share = cli(nas, "backup", "add", "x", "--source", "nope", "--folder", str(dest))
    assert no_share.returncode == 2 and "no share 'nope'" in no_share.stderr
    bad = cli(nas, "backup", "add", "y", "--source", "docs", "--folder", str(dest),
              "--keep-last", "300")
    assert bad.returncode == 2 and "1 to 256" in bad.stderr
    out = cli(nas, "backup", "edit", "nightly", "--smart", "--verify", "--schedule", "off")
    assert out.returncode == 0, out.stderr
    jobs = json.loads(cli(nas, "--json", "backup", "list").stdout)
    assert [j["name"] for j in jobs] == ["nightly"]
    job = jobs[0]
    assert job["schedule"] is None and job["retention"] == {"keep_last": None, "smart": True}
    assert job["options"]["verify"] is True and job["options"]["exclude"] == ["*.tmp"]
    assert job["last_run"] is None
    # Stored in policy.db: it survives a restart of the daemon.
    nas.stop()
    nas.start()
    jobs = json.loads(cli(nas, "--json", "backup", "list").stdout)
    assert jobs[0]["options"]["verify"] is True
    assert cli(nas, "backup", "del", "nightly").returncode == 0
    gone = cli(nas, "backup", "del", "nightly")
    assert gone.returncode == 1 and "no backup job named 'nightly'" in gone.stderr


def test_generations_hard_links_verify_and_restore(nas: PolicyMount, tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    dest = tmp_path / "dest"
    add_folder_job(nas, "docs", dest, "--keep-last", "2", "--verify")
    first = run_job(nas, "docs")
    gen1 = dest / "docs" / first["generation"]
    assert picture(gen1) == picture(docs)
    assert first["files"] == 4  # q1.txt and its hard link q1-again.txt, plan.bin, notes.txt
    # The run's snapshot stays, unlocked, as the base of the next (incremental) run, named
    # by the manifest; nothing incremental is left.
    head = json.loads((dest / "docs" / f"{first['generation']}.manifest").read_text()
                      .split("\n", 1)[0])
    assert [(s["name"], s["locked"]) for s in nas.call("snapshot.list")
            if s["name"].startswith("backup-")] == [(head["snapshot"], False)]
    assert sorted(os.listdir(dest / "docs")) == [first["generation"],
                                                 first["generation"] + ".manifest"]

    (docs / "reports" / "q1.txt").write_bytes(b"changed\n")
    (docs / "new.txt").write_bytes(b"new file\n")
    second = run_job(nas, "docs")
    gen2 = dest / "docs" / second["generation"]
    assert picture(gen2) == picture(docs)
    # Unchanged files are hard links into the first generation; changed ones are not.
    assert os.stat(gen2 / "reports/2026/plan.bin").st_ino == \
        os.stat(gen1 / "reports/2026/plan.bin").st_ino
    assert os.stat(gen2 / "reports/q1.txt").st_ino != os.stat(gen1 / "reports/q1.txt").st_ino
    assert (gen1 / "reports/q1.txt").read_bytes() == b"quarter one\n" * 1000

    gens = json.loads(cli(nas, "--json", "backup", "generations", "docs").stdout)
    assert [g["name"] for g in gens] == [first["generation"], second["generation"]]
    files = json.loads(cli(nas, "--json", "backup", "generations", "docs",
                           second["generation"], "--path", "reports").stdout)
    assert [f["path"] for f in files] == ["reports/2026/plan.bin", "reports/q1.txt"]

    ok = cli(nas, "backup", "verify", "docs")
    assert ok.returncode == 0 and "all match the manifest" in ok.stdout, ok.stdout
    # Rot at the destination is found, named, and is exit code 1.
    with open(gen2 / "new.txt", "r+b") as f:
        f.write(b"X")
    bad = cli(nas, "--json", "backup", "verify", "docs")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["changed"] == ["new.txt"]
    with open(gen2 / "new.txt", "r+b") as f:
        f.write(b"n")

    # Restore into the original place (when it is free) and beside it (when it is not),
    # byte-exact with modes, owners, times and xattrs.
    want = picture(docs)
    os.unlink(docs / "notes.txt")
    out = json.loads(cli(nas, "--json", "backup", "restore", "docs", "notes.txt").stdout)
    assert out["path"] == "docs/notes.txt"
    assert picture(docs)["notes.txt"] == want["notes.txt"]
    out = json.loads(cli(nas, "--json", "backup", "restore", "docs", "reports").stdout)
    assert out["path"] == f"docs/reports (restored {second['generation']})"
    restored = picture(nas.mnt / out["path"])
    assert restored == {k.removeprefix("reports/"): v for k, v in want.items()
                        if k.startswith("reports/")}
    old = json.loads(cli(nas, "--json", "backup", "restore", "docs", "reports/q1.txt",
                         "--generation", first["generation"], "--to", "docs/q1-old.txt").stdout)
    assert old["path"] == "docs/q1-old.txt"
    assert (docs / "q1-old.txt").read_bytes() == b"quarter one\n" * 1000
    taken = cli(nas, "backup", "restore", "docs", "new.txt", "--to", "docs/notes.txt")
    assert taken.returncode == 1 and "exists already" in taken.stderr

    # keep-last 2: a third run removes the first generation and its manifest.
    third = run_job(nas, "docs")
    assert third["removed"] == [first["generation"]]
    assert not gen1.exists() and not (dest / "docs" / f"{first['generation']}.manifest").exists()
    status = json.loads(cli(nas, "--json", "backup", "status", "docs").stdout)[0]
    assert status["last_success"]["generation"] == third["generation"]
    rows = nas.admin.log_query("system", limit=100).rows
    assert sum(1 for r in rows if r["operation"] == "backup.finished") == 3


def test_a_renamed_job_keeps_its_generations_and_history(nas: PolicyMount,
                                                        tmp_path: Path) -> None:
    """`backup edit OLD --name NEW`: the history, the generations at the destination (kept
    in OLD's folder) and the next run's hard links all stay the job's own."""
    make_tree(nas.mnt / "docs")
    dest = tmp_path / "dest"
    add_folder_job(nas, "office", dest)
    add_folder_job(nas, "other", dest)
    first = run_job(nas, "office")
    taken = cli(nas, "backup", "edit", "office", "--name", "other")
    assert taken.returncode == 1 and "exists already" in taken.stderr
    bad = cli(nas, "backup", "edit", "office", "--name", "no/slash")
    assert bad.returncode == 2 and "job name" in bad.stderr
    out = cli(nas, "--json", "backup", "edit", "office", "--name", "office-nightly",
              "--keep-last", "5")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["retention"]["keep_last"] == 5
    names = [j["name"] for j in json.loads(cli(nas, "--json", "backup", "list").stdout)]
    assert names == ["office-nightly", "other"]
    status = json.loads(cli(nas, "--json", "backup", "status", "office-nightly").stdout)[0]
    assert status["last_success"]["generation"] == first["generation"]
    gens = json.loads(cli(nas, "--json", "backup", "generations", "office-nightly").stdout)
    assert [g["name"] for g in gens] == [first["generation"]]
    second = run_job(nas, "office-nightly")
    assert sorted(os.listdir(dest)) == ["office"]  # no second folder for the new name
    g1, g2 = dest / "office" / first["generation"], dest / "office" / second["generation"]
    assert os.stat(g1 / "notes.txt").st_ino == os.stat(g2 / "notes.txt").st_ino
    assert cli(nas, "backup", "verify", "office-nightly").returncode == 0
    # Kept across a restart, and renamed back it is simply "office" again.
    nas.stop()
    nas.start()
    assert cli(nas, "backup", "edit", "office-nightly", "--name", "office").returncode == 0
    job = json.loads(cli(nas, "--json", "backup", "list").stdout)[0]
    assert job["name"] == "office" and "job_folder" not in job["destination"]
    runs = json.loads(cli(nas, "--json", "backup", "generations", "office").stdout)
    assert [g["name"] for g in runs] == [first["generation"], second["generation"]]


def _header(dest: Path, gen: str) -> dict[str, object]:
    head: dict[str, object] = json.loads((dest / f"{gen}.manifest").read_text()
                                         .split("\n", 1)[0])
    return head


def test_xattrs_are_kept_added_and_removed_whether_or_not_rsync_asks_for_them(
        nas: PolicyMount, tmp_path: Path) -> None:
    """A volume without extended attributes is copied without asking for them file by file
    (its manifest says so); one added later is in the next generation, and one removed
    again is gone from the generation after it, though the source then has none."""
    docs = nas.mnt / "docs"
    (docs / "sub").mkdir()
    (docs / "sub" / "a.txt").write_bytes(b"a" * 5000)
    (docs / "b.txt").write_bytes(b"b\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    jobs = dest / "docs"
    assert cli(nas, "backup", "add", "docs", "--source", "docs", "--folder",
               str(dest)).returncode == 0

    def run() -> Path:
        out = json.loads(cli(nas, "--json", "backup", "run", "docs").stdout)
        assert out["result"] == "ok", out
        assert picture(jobs / out["generation"]) == picture(docs)
        assert cli(nas, "backup", "verify", "docs").returncode == 0
        return jobs / out["generation"]

    plain = run()
    assert _header(jobs, plain.name)["xattrs"] is False
    # The space measured at the end of the good run is kept with the job.
    space = nas.call("backup.space", {"name": "docs"})
    assert space["reachable"] and isinstance(space["last_free_bytes"], int)
    assert space["last_total_bytes"] >= space["last_free_bytes"] > 0
    assert isinstance(space["last_measured_s"], float)
    os.setxattr(docs / "sub" / "a.txt", "user.tag", b"red")
    tagged = run()
    assert os.getxattr(tagged / "sub" / "a.txt", "user.tag") == b"red"
    assert _header(jobs, tagged.name)["xattrs"] is True
    # Untouched files still cost nothing.
    assert os.stat(tagged / "b.txt").st_ino == os.stat(plain / "b.txt").st_ino
    os.removexattr(docs / "sub" / "a.txt", "user.tag")
    untagged = run()
    assert os.listxattr(untagged / "sub" / "a.txt") == []
    assert _header(jobs, untagged.name)["xattrs"] is False
    again = run()
    assert os.stat(again / "sub" / "a.txt").st_ino == os.stat(untagged / "sub" / "a.txt").st_ino


def test_a_scheduled_verify_finds_rot_and_says_so(nas: PolicyMount, tmp_path: Path) -> None:
    """`--verify-schedule CRON`: the newest generation is re-read at each fire time (here
    every minute) and a mismatch goes to the system log and the daemon's notices."""
    make_tree(nas.mnt / "docs")
    dest = tmp_path / "dest"
    add_folder_job(nas, "office", dest)
    first = run_job(nas, "office")
    bad = cli(nas, "backup", "edit", "office", "--verify-schedule", "every minute")
    assert bad.returncode == 2
    out = cli(nas, "--json", "backup", "edit", "office", "--verify-schedule", "* * * * *")
    assert json.loads(out.stdout)["options"]["verify_schedule"] == "* * * * *"
    (dest / "office" / first["generation"] / "notes.txt").write_text("rotten\n")
    deadline = time.monotonic() + 240  # the next minute, then the next 30 s check
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rows = [r for r in nas.admin.log_query("system", limit=100).rows
                if r["operation"] == "backup.verify"]
        if rows:
            break
        time.sleep(1)
    assert rows, "no scheduled verify ran"
    assert rows[0]["result"] == "mismatch" and first["generation"] in str(rows[0]["detail"])
    kinds = [e.get("kind") for e in nas.call("status").get("events", [])]
    assert "backup-verify-failed" in kinds, kinds
    off = cli(nas, "--json", "backup", "edit", "office", "--verify-schedule", "off")
    assert "verify_schedule" not in json.loads(off.stdout)["options"]


def test_space_and_digest_notices_are_mailed(nas: PolicyMount, tmp_path: Path,
                                             smtp: tuple[Inbox, int]) -> None:
    """A destination fuller than backup.space_warn_percent after a run is mailed (and
    logged); with backup.digest_schedule a summary of the runs arrives at its fire time."""
    inbox, port = smtp
    for key, value in {"mail.host": "127.0.0.1", "mail.port": port, "mail.starttls": False,
                       "mail.from": "nas@example.com", "mail.to": "admin@example.com",
                       "mail.enabled": True}.items():
        nas.admin.settings_set(key, value)
    bad = cli(nas, "settings", "set", "backup.space_warn_percent", "120")
    assert bad.returncode != 0 and "0 (off) to 100" in bad.stderr
    make_tree(nas.mnt / "docs")
    dest = tmp_path / "dest"
    add_folder_job(nas, "office", dest)
    st = os.statvfs(dest)
    used = 100 * (st.f_blocks - st.f_bavail) / st.f_blocks
    # Above what is used now: no notice.
    nas.admin.settings_set("backup.space_warn_percent", min(100, int(used) + 5))
    run_job(nas, "office")
    assert not [r for r in nas.admin.log_query("system", limit=100).rows
                if r["operation"] == "backup.space"]
    # Below it: the run says the destination is that full.
    nas.admin.settings_set("backup.space_warn_percent", max(1, int(used) - 1))
    second = run_job(nas, "office")
    rows = [r for r in nas.admin.log_query("system", limit=100).rows
            if r["operation"] == "backup.space"]
    assert len(rows) == 1 and "% full" in str(rows[0]["detail"])
    assert second["generation"] in str(rows[0]["detail"])
    deadline = time.monotonic() + 60
    while inbox.find("nearly full") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    mail = inbox.find("A backup destination is nearly full")
    assert mail is not None, inbox.subjects()
    assert "office" in mail.get_content() and "% full" in mail.get_content()
    # The digest, every minute here: the next fire time (then the next 30 s check).
    assert cli(nas, "backup", "add", "broken", "--source", "docs", "--folder",
               str(tmp_path / "nowhere")).returncode == 0
    assert cli(nas, "backup", "run", "broken").returncode == 1
    nas.admin.settings_set("backup.digest_schedule", "* * * * *")
    deadline = time.monotonic() + 240
    while inbox.find("Backup summary") is None and time.monotonic() < deadline:
        time.sleep(1)
    digest = inbox.find("Backup summary")
    assert digest is not None, inbox.subjects()
    assert "2 backups succeeded, 1 did not" in str(digest["Subject"])
    body = digest.get_content()
    assert "- office: 2 of 2 runs good, newest generation " + second["generation"] in body
    assert "- broken: 0 of 1 runs good; last failure: destination_missing" in body
    assert [r for r in nas.admin.log_query("system", limit=100).rows
            if r["operation"] == "backup.digest"]
