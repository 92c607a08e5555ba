"""A real smbd serving a real mounted array, switched on through nasfs's own settings:
logins with the NAS passwords (Samba's passdb follows every password change), the gate's
decisions over SMB, a configuration reload with a client connected, SMB1 refused, and
nothing of smbd left behind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    ShareAccess,
)
from smbprotocol.tree import TreeConnect

from nasfs.client.connection import DaemonError
from nasfs.smb import passdb
from nasfs.smb.config import Site
from tests.smb_util import HOST, SmbNas, smb_nas

ALICE, BOB, CAROL = 46111, 46112, 46113
USERS = {"alice": (ALICE, "alice-pw"), "bob": (BOB, "bob-pw"), "carol": (CAROL, "carol-pw")}


@pytest.fixture(scope="module")
def nas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbNas]:
    with smb_nas(tmp_path_factory.mktemp("smb"), USERS) as nas:
        nas.share("docs", ("user", "alice", "rw"), ("user", "bob", "ro"))
        yield nas


def passdb_users(nas: SmbNas) -> list[str]:
    return passdb.users(Site(Path("/nonexistent"), nas.state_dir, port=nas.port))


def test_smbd_runs_on_loopback_as_the_status_says(nas: SmbNas) -> None:
    status = nas.status()
    assert status["enabled"] and status["running"] and status["port"] == nas.port
    assert status["interfaces"] == [HOST] and status["users_without_samba_password"] == []
    assert status["pid"] in nas.leftovers()
    assert passdb_users(nas) == ["alice", "bob", "carol"]


def test_the_gate_decides_what_each_user_may_do(nas: SmbNas) -> None:
    local = nas.outer / "upload.txt"
    local.write_text("from alice\n")
    done = nas.smbclient("docs", "alice", "alice-pw", f"put {local} report.txt")
    assert done.returncode == 0, done.stdout + done.stderr
    on_mount = nas.mnt / "docs" / "report.txt"
    assert on_mount.read_text() == "from alice\n"
    assert on_mount.stat().st_uid == ALICE  # smbd became alice; the gate saw alice

    back = nas.outer / "back.txt"
    done = nas.smbclient("docs", "bob", "bob-pw", f"get report.txt {back}")
    assert done.returncode == 0 and back.read_text() == "from alice\n", done.stdout
    denied = nas.smbclient("docs", "bob", "bob-pw", f"put {local} by-bob.txt")
    assert "NT_STATUS_ACCESS_DENIED" in denied.stdout, denied.stdout
    assert not (nas.mnt / "docs" / "by-bob.txt").exists()
    # carol is in no ACL entry: the share is listed to her but refuses her.
    refused = nas.smbclient("docs", "carol", "carol-pw", "ls")
    assert "NT_STATUS_ACCESS_DENIED" in refused.stdout, refused.stdout


def _write_and_read(tree: TreeConnect, name: str, data: bytes) -> bytes:
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, 0x12019F,  # generic read + write
             FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
             CreateDisposition.FILE_OVERWRITE_IF, CreateOptions.FILE_NON_DIRECTORY_FILE)
    try:
        f.write(data, 0)
        return bytes(f.read(0, len(data)))
    finally:
        f.close()


def test_a_python_client_writes_and_reads_through_the_mount(nas: SmbNas) -> None:
    with nas.session("alice", "alice-pw") as session:
        tree = TreeConnect(session, rf"\\{HOST}\docs")
        tree.connect()
        assert _write_and_read(tree, "py.bin", b"x" * 70000) == b"x" * 70000
        tree.disconnect()
    assert (nas.mnt / "docs" / "py.bin").stat().st_size == 70000


def test_a_reload_keeps_a_connected_client_working(nas: SmbNas) -> None:
    with nas.session("alice", "alice-pw") as session:
        tree = TreeConnect(session, rf"\\{HOST}\docs")
        tree.connect()
        assert _write_and_read(tree, "before.txt", b"before") == b"before"
        conf = nas.conf.read_text()
        nas.admin.share_create("later")  # a policy change: configuration rewritten, reloaded
        nas.admin.share_acl("later", "everyone", None, "rw")
        assert nas.conf.read_text() != conf and "[later]" in nas.conf.read_text()
        # The same session and tree go on working after smbd reloaded.
        assert _write_and_read(tree, "after.txt", b"after") == b"after"
        later = TreeConnect(session, rf"\\{HOST}\later")
        later.connect()  # and the new share is there for it
        later.disconnect()
        tree.disconnect()
    assert (nas.mnt / "docs" / "after.txt").read_bytes() == b"after"


def test_passwords_follow_the_nas_passwords(nas: SmbNas) -> None:
    wrong = nas.smbclient("docs", "alice", "nope", "ls")
    assert "NT_STATUS_LOGON_FAILURE" in wrong.stdout, wrong.stdout
    nas.admin.user_passwd("bob", "bob-new")
    assert "NT_STATUS_LOGON_FAILURE" in nas.smbclient("docs", "bob", "bob-pw", "ls").stdout
    assert nas.smbclient("docs", "bob", "bob-new", "ls").returncode == 0
    nas.admin.user_passwd("bob", None)  # no password: no SMB login
    assert "bob" not in passdb_users(nas)
    assert "NT_STATUS_LOGON_FAILURE" in nas.smbclient("docs", "bob", "bob-new", "ls").stdout
    nas.admin.user_passwd("bob", "bob-pw")
    assert nas.smbclient("docs", "bob", "bob-pw", "ls").returncode == 0
    nas.admin.user_add("dave", 46114, password="dave-pw")
    assert "dave" in passdb_users(nas)
    nas.admin.user_del("dave")
    assert "dave" not in passdb_users(nas)
    assert not (nas.state_dir / "users" / "dave.conf").exists()


def test_the_password_never_reaches_a_file(nas: SmbNas) -> None:
    nas.admin.user_passwd("carol", "carol-secret-4711")
    found = []
    for root in (nas.state_dir, nas.run_dir):
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue  # smbd's message sockets
                if b"carol-secret-4711" in path.read_bytes():
                    found.append(path)
    assert found == []
    nas.admin.user_passwd("carol", "carol-pw")


def test_smb1_is_refused(nas: SmbNas) -> None:
    done = nas.smbclient("docs", "alice", "alice-pw", "ls", protocol="NT1")
    assert done.returncode != 0
    assert "NT_STATUS" in done.stdout + done.stderr
    assert nas.smbclient("docs", "alice", "alice-pw", "ls", protocol="SMB3").returncode == 0


def test_status_lists_the_connected_sessions(nas: SmbNas) -> None:
    with nas.session("alice", "alice-pw") as session:
        tree = TreeConnect(session, rf"\\{HOST}\docs")
        tree.connect()
        sessions = nas.status()["sessions"]
        tree.disconnect()
    mine = [s for s in sessions if s["user"] == "alice"]
    assert mine and mine[0]["client"] == HOST and mine[0]["protocol"].startswith("SMB3")


def _cli(nas: SmbNas, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NASFS_RUN_DIR": str(nas.run_dir)}
    return subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args, "--mountpoint",
                           str(nas.mnt)], capture_output=True, text=True, check=False, env=env,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)


def test_the_cli_switches_smb_off_and_on(nas: SmbNas) -> None:
    done = _cli(nas, "smb", "disable", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["running"] is False and nas.leftovers() == []
    assert "NT_STATUS_CONNECTION_REFUSED" in nas.smbclient("docs", "alice", "alice-pw").stderr
    done = _cli(nas, "smb", "status")
    assert done.stdout.startswith("SMB is off"), done.stdout
    done = _cli(nas, "smb", "enable")
    assert done.returncode == 0 and f"listens on port {nas.port} (127.0.0.1)" in done.stdout
    assert nas.smbclient("docs", "alice", "alice-pw").returncode == 0
    # Publishing the accounts cannot be switched off under a running SMB side.
    refused = _cli(nas, "settings", "set", "os.accounts", "no")
    assert refused.returncode != 0 and "nasfs smb disable" in refused.stderr


def test_a_hidden_share_answers_like_an_absent_one(nas: SmbNas) -> None:
    nas.admin.share_create("board", hidden=True)
    nas.admin.share_acl("board", "user", "alice", "rw")
    (nas.mnt / "board" / "minutes.txt").write_text("secret\n")
    with nas.session("bob", "bob-pw") as session:
        assert nas.tree_status(session, "board") == "BadNetworkName"
        assert nas.tree_status(session, "no-such-share") == "BadNetworkName"
        assert nas.tree_status(session, "docs") == "OK"
    hidden = nas.smbclient("board", "bob", "bob-pw", "ls")
    absent = nas.smbclient("no-such-share", "bob", "bob-pw", "ls")
    assert "NT_STATUS_BAD_NETWORK_NAME" in hidden.stdout
    assert (hidden.returncode, hidden.stdout, hidden.stderr) == (
        absent.returncode, absent.stdout, absent.stderr)
    assert "board" not in nas.share_list("bob", "bob-pw")
    # alice may: the share is there for her (by name; hidden shares are never listed).
    with nas.session("alice", "alice-pw") as session:
        assert nas.tree_status(session, "board") == "OK"
    copy = nas.outer / "minutes-copy.txt"
    assert nas.smbclient("board", "alice", "alice-pw", f"get minutes.txt {copy}").returncode == 0
    assert copy.read_text() == "secret\n"
    # A visible share without access is listed, and refuses the tree connect.
    assert "docs" in nas.share_list("carol", "carol-pw")
    with nas.session("carol", "carol-pw") as session:
        assert nas.tree_status(session, "docs") == "AccessDenied"
    # Access granted later: the hidden share appears for bob without a restart.
    nas.admin.share_acl("board", "user", "bob", "ro")
    with nas.session("bob", "bob-pw") as session:
        assert nas.tree_status(session, "board") == "OK"


def test_log_rows_made_over_smb_name_the_client_and_the_user(nas: SmbNas) -> None:
    after = nas.last_access_id()
    local = nas.outer / "logged.txt"
    local.write_text("logged\n")
    assert nas.smbclient("docs", "alice", "alice-pw", f"put {local} logged.txt").returncode == 0
    rows = [r for r in nas.access_rows(after_id=after, expect=1)
            if r["path"] == "/logged.txt"]
    assert rows and {(r["user"], r["process"], r["client"]) for r in rows} == {
        ("alice", "smbd", HOST)}
    # A local process leaves the column empty.
    (nas.mnt / "docs" / "local.txt").write_text("here\n")
    local_rows = [r for r in nas.access_rows(after_id=after, expect=len(rows) + 1)
                  if r["path"] == "/local.txt"]
    assert local_rows and all(r["client"] is None for r in local_rows)
    # The CSV export has the column.
    target = nas.outer / "access.csv"
    nas.admin.log_export(str(target))
    lines = target.read_text().splitlines()
    header = lines[0].split(",")
    assert "client" in header
    logged = [line.split(",") for line in lines if "/logged.txt" in line]
    assert logged and all(f[header.index("client")] == HOST for f in logged)
    assert nas.admin.log_verify("access").ok  # the chain covers the new column


def test_a_password_samba_cannot_take_is_reported_and_the_nas_one_stays(nas: SmbNas) -> None:
    with pytest.raises(DaemonError, match="NAS password of 'bob' is set, but not for SMB"):
        nas.admin.user_passwd("bob", "two\nlines")
    assert nas.admin.auth_check("bob", "two\nlines", "test").ok
    nas.admin.user_passwd("bob", "bob-pw")
    assert nas.smbclient("docs", "bob", "bob-pw", "ls").returncode == 0
