"""Backups off the box: to a second array over ssh (sshd started by the test on 127.0.0.1
with its own host key and authorized_keys; rsync over it into the second array's share),
and to the cloud (rclone against `rclone serve webdav` on 127.0.0.1, wrapped in crypt)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup_util import backup_nas, cli, make_tree, picture
from tests.fuse_policy_util import PolicyMount

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


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
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """sshd on 127.0.0.1:PORT; yields (port, authorized_keys file to fill)."""
    d = Path(tempfile.mkdtemp(prefix="nasfs-sshd-"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")],
                   check=True)
    keys = d / "authorized_keys"
    keys.write_text("")
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {keys}\nPidFile {d / 'sshd.pid'}\nPermitRootLogin "
        "prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stderr=open(d / "sshd.log", "wb"))  # noqa: SIM115
    try:
        wait_port(port, proc)
        yield port, d
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]


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
    wrong = cli(nas, "backup", "add", "lan", "--source", "docs", "--ssh", target,
                "--ssh-port", str(port), "--ssh-fingerprint", "SHA256:" + "A" * 43)
    assert wrong.returncode == 2 and "refused" in wrong.stderr
    out = cli(nas, "backup", "add", "lan", "--source", "docs", "--ssh", target,
              "--ssh-port", str(port), "--ssh-fingerprint", right)
    assert out.returncode == 0, out.stderr

    first = json.loads(cli(nas, "--json", "backup", "run", "lan").stdout)
    assert first["result"] == "ok", first
    remote = second.mnt / "vault" / "lan"
    assert picture(remote / first["generation"]) == picture(docs)
    (docs / "notes.txt").write_text("changed\n")
    again = json.loads(cli(nas, "--json", "backup", "run", "lan").stdout)
    assert again["result"] == "ok", again
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
        first = json.loads(cli(nas, "--json", "backup", "run", "cloud").stdout)
        assert first["result"] == "ok", first
        # The provider sees ciphertext only: no name and no content in the clear.
        stored = [p for p in served.rglob("*")]
        assert stored and not any("notes" in p.name or "reports" in p.name for p in stored)
        assert not any(b"remember the milk" in p.read_bytes() for p in stored if p.is_file())
        (docs / "notes.txt").write_text("changed\n")
        again = json.loads(cli(nas, "--json", "backup", "run", "cloud").stdout)
        assert again["result"] == "ok", again
        gens = json.loads(cli(nas, "--json", "backup", "generations", "cloud").stdout)
        assert [g["name"] for g in gens] == [first["generation"], again["generation"]]
        ok = cli(nas, "--json", "backup", "verify", "cloud", first["generation"])
        assert ok.returncode == 0, ok.stdout
        assert json.loads(ok.stdout)["files"] == 4
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
