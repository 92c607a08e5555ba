"""Backups off the box: to a second array over ssh (sshd started by the test on 127.0.0.1
with its own host key and authorized_keys; rsync over it into the second array's share),
and to the cloud (rclone against `rclone serve webdav` on 127.0.0.1, wrapped in crypt);
the connection cut mid-run (the sshd session killed) and rclone killed mid-run, each
resumed by the next run to a complete, verified generation."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import (
    backup_nas,
    cli,
    fingerprint,
    free_port,
    make_tree,
    picture,
    resumed_after_interruption,
    run_job,
    ssh_server,
    wait_finished,
    wait_port,
    wait_running,
)
from tests.fuse_policy_util import PolicyMount


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    with backup_nas(tmp_path / "one") as m:
        yield m


@pytest.fixture
def second(tmp_path: Path) -> Iterator[PolicyMount]:
    """The other box: a second array, mounted by its own daemon, with the share `vault`."""
    base = tmp_path / "two"
    base.mkdir()
    m = PolicyMount(base)
    try:
        m.start()
        m.admin.share_create("vault")
        yield m
        m.stop()
    finally:
        m.cleanup()


@pytest.fixture
def sshd() -> Iterator[tuple[int, Path]]:
    with ssh_server() as server:
        yield server


def test_to_a_second_array_over_ssh(nas: PolicyMount, second: PolicyMount,
                                    sshd: tuple[int, Path]) -> None:
    port, sshd_dir = sshd
    docs = nas.mnt / "docs"
    make_tree(docs)
    key = cli(nas, "backup", "key")
    assert key.returncode == 0 and key.stdout.startswith("ssh-ed25519 ")
    (sshd_dir / "authorized_keys").write_text(key.stdout)
    target = f"root@127.0.0.1:{second.mnt / 'vault'}"
    unpinned = cli(nas, "backup", "add", "lan", "--source", "docs", "--ssh", target,
                   "--ssh-port", str(port))
    right = fingerprint(sshd_dir / "host.pub")
    assert unpinned.returncode == 2 and right in unpinned.stderr, unpinned.stderr
    # What the box offers, asked on its own (the console's form shows it to confirm).
    offered = json.loads(cli(nas, "--json", "backup", "host-keys", "127.0.0.1",
                             "--ssh-port", str(port)).stdout)
    host_line = " ".join((sshd_dir / "host.pub").read_text().split()[:2])
    assert offered == [{"type": "ssh-ed25519", "fingerprint": right, "key": host_line}]
    assert cli(nas, "backup", "list").stdout.strip() == "no backup jobs"  # nothing pinned
    wrong = cli(nas, "backup", "add", "lan", "--source", "docs", "--ssh", target,
                "--ssh-port", str(port), "--ssh-fingerprint", "SHA256:" + "A" * 43)
    assert wrong.returncode == 2 and "refused" in wrong.stderr
    out = cli(nas, "backup", "add", "lan", "--source", "docs", "--ssh", target,
              "--ssh-port", str(port), "--ssh-fingerprint", right)
    assert out.returncode == 0, out.stderr

    first = run_job(nas, "lan")
    remote = second.mnt / "vault" / "lan"
    assert picture(remote / first["generation"]) == picture(docs)
    (docs / "notes.txt").write_text("changed\n")
    again = run_job(nas, "lan")
    g1, g2 = remote / first["generation"], remote / again["generation"]
    assert picture(g2) == picture(docs)
    # Hard links between generations on the other array too.
    assert os.stat(g2 / "reports/q1.txt").st_ino == os.stat(g1 / "reports/q1.txt").st_ino
    assert (g1 / "notes.txt").read_text() == "remember the milk\n"
    gens = json.loads(cli(nas, "--json", "backup", "generations", "lan").stdout)
    assert [g["name"] for g in gens] == [first["generation"], again["generation"]]
    assert cli(nas, "backup", "verify", "lan").returncode == 0
    want = picture(docs)
    os.unlink(docs / "reports" / "2026" / "plan.bin")
    done = json.loads(cli(nas, "--json", "backup", "restore", "lan",
                          "reports/2026/plan.bin").stdout)
    assert done["path"] == "docs/reports/2026/plan.bin"
    assert picture(docs) == want

    # Another key at that address (a box put in its place) is refused.
    other = sshd_dir / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    line = " ".join(Path(str(other) + ".pub").read_text().split()[:2])
    assert cli(nas, "backup", "edit", "lan", "--ssh", target, "--ssh-port", str(port),
               "--ssh-host-key", line).returncode == 0
    refused = json.loads(cli(nas, "--json", "backup", "run", "lan").stdout)
    assert refused["result"] == "destination_missing", refused
    assert "Host key verification failed" in refused["detail"]


def test_to_the_cloud_through_rclone_crypt(nas: PolicyMount, tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    make_tree(docs)
    served = tmp_path / "webdav"
    served.mkdir()
    port = free_port()
    server = subprocess.Popen(["rclone", "serve", "webdav", str(served), "--addr",
                               f"127.0.0.1:{port}", "--user", "office", "--pass",
                               "dav-secret-1"], stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server)
        out = cli(nas, "backup", "add", "cloud", "--source", "docs", "--cloud", "webdav",
                  "--cloud-path", "backups", "--cloud-option", f"url=http://127.0.0.1:{port}",
                  "--cloud-option", "vendor=other", "--cloud-option", "user=office",
                  "--cloud-option", "pass=dav-secret-1", "--crypt",
                  "--crypt-password-stdin", stdin="correct horse battery staple\n")
        assert out.returncode == 0, out.stderr
        conf = tmp_path / "one" / "state" / "backup" / "rclone.conf"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        text = conf.read_text()
        assert "dav-secret-1" not in text and "correct horse" not in text
        first = run_job(nas, "cloud")
        # The provider sees ciphertext only: no name and no content in the clear.
        stored = [p for p in served.rglob("*")]
        assert stored and not any("notes" in p.name or "reports" in p.name for p in stored)
        assert not any(b"remember the milk" in p.read_bytes() for p in stored if p.is_file())
        (docs / "notes.txt").write_text("changed\n")
        again = run_job(nas, "cloud")
        gens = json.loads(cli(nas, "--json", "backup", "generations", "cloud").stdout)
        assert [g["name"] for g in gens] == [first["generation"], again["generation"]]
        ok = cli(nas, "--json", "backup", "verify", "cloud", first["generation"])
        assert ok.returncode == 0, ok.stdout
        assert json.loads(ok.stdout)["files"] == 4
        # A second job with a copy of this remote (the console's "cloud remote already
        # configured"): its own rclone remotes, the same secrets, no secret shown.
        remotes = json.loads(cli(nas, "--json", "backup", "remotes").stdout)
        assert remotes == [{"key": "cloud", "type": "webdav", "crypt": True,
                            "where": f"http://127.0.0.1:{port}"}]
        out = cli(nas, "backup", "add", "cloud2", "--source", "docs/reports", "--cloud-from",
                  "cloud", "--cloud-path", "backups")
        assert out.returncode == 0, out.stderr
        run_job(nas, "cloud2")  # ok, through its copy of the remote
        assert cli(nas, "backup", "verify", "cloud2").returncode == 0  # read through crypt
        assert "dav-secret-1" not in conf.read_text()
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        assert [r["key"] for r in json.loads(cli(nas, "--json", "backup", "remotes").stdout)
                ] == ["cloud", "cloud2"]
        os.unlink(docs / "reports" / "q1.txt")
        done = json.loads(cli(nas, "--json", "backup", "restore", "cloud",
                              "reports/q1.txt").stdout)
        assert done["path"] == "docs/reports/q1.txt"
        assert (docs / "reports" / "q1.txt").read_bytes() == b"quarter one\n" * 1000
        old = json.loads(cli(nas, "--json", "backup", "restore", "cloud", "notes.txt",
                             "--generation", first["generation"], "--to",
                             "docs/notes-old.txt").stdout)
        assert old["path"] == "docs/notes-old.txt"
        assert (docs / "notes-old.txt").read_text() == "remember the milk\n"
    finally:
        server.terminate()
        server.wait()
    # The server gone: a clear failure, the generations stay.
    gone = json.loads(cli(nas, "--json", "backup", "run", "cloud").stdout)
    assert gone["result"] == "destination_missing", gone


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat_line.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def command(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def big_tree(docs: Path, files: int) -> None:
    make_tree(docs)
    for i in range(files):
        (docs / f"big{i}.bin").write_bytes(os.urandom(2 << 20))


def test_the_network_cut_mid_run_over_ssh_then_resumed(nas: PolicyMount, second: PolicyMount,
                                                       sshd: tuple[int, Path]) -> None:
    """The sshd session serving the run is killed (what a cut cable looks like to both
    ends): a clear `destination_missing`, and the next run continues to a whole generation."""
    port, sshd_dir = sshd
    docs = nas.mnt / "docs"
    big_tree(docs, 6)
    (sshd_dir / "authorized_keys").write_text(cli(nas, "backup", "key").stdout)
    target = f"root@127.0.0.1:{second.mnt / 'vault'}"
    assert cli(nas, "backup", "add", "lan", "--source", "docs", "--ssh", target,
               "--ssh-port", str(port), "--ssh-fingerprint",
               fingerprint(sshd_dir / "host.pub"), "--bwlimit", "3000").returncode == 0
    nas.call("backup.run", {"name": "lan", "wait": False})
    wait_running(nas, "lan", min_bytes=3 << 20)
    listener = int((sshd_dir / "sshd.pid").read_text())
    sessions = children(listener)  # one sshd per connection: the run's
    assert sessions
    for pid in sessions:
        os.kill(pid, signal.SIGKILL)
    last = wait_finished(nas, "lan")
    assert last["result"] == "destination_missing", last
    folder = second.mnt / "vault" / "lan"
    done = resumed_after_interruption(nas, "lan", folder)
    assert picture(folder / done["generation"]) == picture(docs)
    assert cli(nas, "backup", "verify", "lan").returncode == 0


def test_rclone_killed_mid_run_then_resumed(nas: PolicyMount, tmp_path: Path) -> None:
    docs = nas.mnt / "docs"
    big_tree(docs, 6)
    served = tmp_path / "webdav"
    served.mkdir()
    port = free_port()
    server = subprocess.Popen(["rclone", "serve", "webdav", str(served), "--addr",
                               f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server)
        assert cli(nas, "backup", "add", "cloud", "--source", "docs", "--cloud", "webdav",
                   "--cloud-option", f"url=http://127.0.0.1:{port}", "--cloud-option",
                   "vendor=other", "--bwlimit", "3000").returncode == 0
        nas.call("backup.run", {"name": "cloud", "wait": False})
        wait_running(nas, "cloud", min_bytes=3 << 20)
        assert nas.proc is not None
        tools = [p for p in children(nas.proc.pid) if command(p)[:1] == [b"rclone"]]
        assert tools, "no rclone started by the daemon"
        for pid in tools:
            os.kill(pid, signal.SIGKILL)
        last = wait_finished(nas, "cloud")
        assert last["result"] == "failed" and "killed" in str(last["detail"]), last
        done = resumed_after_interruption(nas, "cloud", served / "cloud")
        got = served / "cloud" / done["generation"]
        assert {p.relative_to(got) for p in got.rglob("*") if p.is_file()} >= {
            Path(f"big{i}.bin") for i in range(6)}
        assert cli(nas, "backup", "verify", "cloud").returncode == 0
    finally:
        server.terminate()
        server.wait()


def test_a_cloud_job_edited_to_a_folder_leaves_no_remote(nas: PolicyMount,
                                                         tmp_path: Path) -> None:
    """`backup edit` from the cloud to a folder removes the job's rclone remote (as `backup
    del` does); a cloud job beside it keeps its own."""
    for job in ("office", "other"):
        added = cli(nas, "backup", "add", job, "--source", "docs", "--cloud", "webdav",
                    "--cloud-option", "url=http://127.0.0.1:9", "--cloud-option",
                    "vendor=other")
        assert added.returncode == 0, added.stderr
    listed = json.loads(cli(nas, "--json", "backup", "remotes").stdout)
    assert {r["key"] for r in listed} == {"office", "other"}
    (tmp_path / "dest").mkdir()
    edited = cli(nas, "backup", "edit", "office", "--folder", str(tmp_path / "dest"))
    assert edited.returncode == 0, edited.stderr
    listed = json.loads(cli(nas, "--json", "backup", "remotes").stdout)
    assert {r["key"] for r in listed} == {"other"}
    assert "nasfs-office" not in (Path(os.environ["NASFS_STATE_DIR"]) / "backup"
                                  / "rclone.conf").read_text()
