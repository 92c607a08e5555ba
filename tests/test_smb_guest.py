"""Guests over SMB, through a real smbd: a share with the `guest` option lets a session
Samba maps to its guest account (any name it does not know) read it, and nothing more;
the other shares refuse guests; hidden shares stay absent from a guest's list and answer a
guest exactly as a name no share has — also for a guest who logs in under the name of a
locked user. Without a guest share nobody becomes a guest."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.smb_util import EVERYONE_RW, HOST, SmbNas, smb_nas

# carol logs in only in the lock test: a success of hers counted late (the audit is read
# every half second) would reset the failures that test makes.
USERS = {"alice": (46141, "alice-pw"), "bob": (46142, "bob-pw"), "carol": (46143, "carol-pw"),
         "dave": (46144, "dave-pw")}
MAX_FAILURES = 3


@pytest.fixture(scope="module")
def nas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbNas]:
    with smb_nas(tmp_path_factory.mktemp("smb"), USERS, max_failures=MAX_FAILURES) as nas:
        nas.share("docs", EVERYONE_RW)
        nas.share("secret", ("user", "bob", "rw"), hidden=True)
        nas.share("carols", ("user", "carol", "rw"), hidden=True)
        nas.share("daves", ("user", "dave", "rw"), hidden=True)
        nas.share("public", ("user", "alice", "rw"))
        yield nas


def probe(nas: SmbNas, share: str, user: str, password: str, *, guest: bool = True) -> str:
    with nas.session(user, password, signing=not guest) as session:
        return nas.tree_status(session, share)


def test_without_a_guest_share_an_unknown_name_is_refused(nas: SmbNas) -> None:
    assert "map to guest = never" in nas.conf.read_text().lower()
    done = nas.smbclient("public", "visitor", "anything", "ls")
    assert "NT_STATUS_LOGON_FAILURE" in done.stdout + done.stderr


def test_a_guest_reads_the_guest_share_and_nothing_else(nas: SmbNas) -> None:
    nas.admin.share_edit("public", guest=True)
    assert nas.admin.share_show("public").guest
    assert "map to guest = bad user" in nas.conf.read_text().lower()
    local = nas.outer / "notice.txt"
    local.write_text("opening hours\n")
    done = nas.smbclient("public", "alice", "alice-pw", f"put {local} notice.txt")
    assert done.returncode == 0, done.stdout + done.stderr
    # Any name Samba does not know, any password: a guest.
    got = nas.outer / "got.txt"
    done = nas.smbclient("public", "visitor", "anything", f"get notice.txt {got}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert got.read_text() == "opening hours\n"
    # Reading only: no writes, deletes or renames.
    for command in (f"put {local} mine.txt", "del notice.txt",
                    "rename notice.txt moved.txt", "mkdir new"):
        done = nas.smbclient("public", "visitor", "x", command)
        assert "NT_STATUS_ACCESS_DENIED" in done.stdout, (command, done.stdout)
    assert sorted(p.name for p in (nas.mnt / "public").iterdir()
                  if not p.name.startswith("#")) == ["notice.txt"]
    # A known name with a wrong password is no guest.
    done = nas.smbclient("public", "alice", "wrong", "ls")
    assert "NT_STATUS_LOGON_FAILURE" in done.stdout + done.stderr
    # The other shares refuse guests at the tree connect.
    assert probe(nas, "docs", "visitor", "x") == "AccessDenied"
    assert probe(nas, "public", "visitor", "x") == "OK"


def test_the_log_names_the_guest_and_the_client(nas: SmbNas) -> None:
    nas.admin.share_edit("public", guest=True)
    local = nas.outer / "n.txt"
    local.write_text("n\n")
    assert nas.smbclient("public", "alice", "alice-pw", f"put {local} log.txt").returncode == 0
    got = nas.outer / "got2.txt"
    assert nas.smbclient("public", "visitor", "x", f"get log.txt {got}").returncode == 0
    rows: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not rows:
        rows = [r for r in nas.admin.log_query("access", limit=1000).rows
                if r["path"] == "/log.txt" and r["user"] is None]
        time.sleep(0.1)
    assert rows, "no access-log row of the guest's read"
    assert {r["uid"] for r in rows} == {65534}  # the guest account: no NAS user
    assert {r["client"] for r in rows} == {"127.0.0.1"}


def test_hidden_shares_are_absent_for_guests(nas: SmbNas) -> None:
    nas.admin.share_edit("public", guest=True)
    # Guests get no share list at all (no anonymous IPC$: it would also list the users);
    # they connect to the guest share by its name.
    done = subprocess.run(["smbclient", "-p", str(nas.port), "-L", HOST, "-g", "-U",
                           "visitor%x"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "secret" not in done.stdout + done.stderr
    assert "public" in nas.share_list("alice", "alice-pw")
    assert probe(nas, "secret", "visitor", "x") == probe(nas, "nosuch", "visitor", "x") \
        == "BadNetworkName"
    assert probe(nas, "secret", "bob", "bob-pw", guest=False) == "OK"


def test_a_guest_under_a_locked_name_finds_none_of_its_shares(nas: SmbNas) -> None:
    nas.admin.share_edit("public", guest=True)
    for _ in range(MAX_FAILURES):  # console failures lock the name for SMB too
        assert not nas.admin.auth_check("carol", "guess", "tty-guest").ok
    deadline = time.monotonic() + 60
    while nas.status()["locked_users"] != ["carol"]:
        assert time.monotonic() < deadline, nas.status()
        time.sleep(0.1)
    try:
        # To Samba a locked name is unknown: the session is a guest's, and carol's hidden
        # share is as absent for it as a share that does not exist.
        assert probe(nas, "public", "carol", "carol-pw") == "OK"
        assert probe(nas, "carols", "carol", "carol-pw") == probe(nas, "nosuch", "carol", "x") \
            == "BadNetworkName"
    finally:
        nas.admin.user_unlock("carol")
        nas.admin.user_unlock(source="tty-guest")
    deadline = time.monotonic() + 60
    while nas.status()["locked_users"]:
        assert time.monotonic() < deadline, nas.status()
        time.sleep(0.1)
    assert probe(nas, "carols", "carol", "carol-pw", guest=False) == "OK"


def test_a_guest_under_a_name_samba_lacks_finds_none_of_its_shares(nas: SmbNas) -> None:
    nas.admin.share_edit("public", guest=True)
    # dave's NAS password never reached Samba (as when it was set with os.accounts off).
    done = subprocess.run(["pdbedit", "-s", str(nas.conf), "-x", "-u", "dave"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    nas.admin.share_edit("daves", trash_days=7)  # any policy change renders again
    assert "dave" in nas.status()["users_without_samba_password"]
    assert probe(nas, "public", "dave", "dave-pw") == "OK"  # a guest now
    assert probe(nas, "daves", "dave", "x") == probe(nas, "nosuch", "dave", "x") \
        == "BadNetworkName"
    nas.admin.user_passwd("dave", "dave-pw")  # Samba learns it: dave is dave again
    deadline = time.monotonic() + 60  # his shares come back as the watcher sees the passdb
    while probe(nas, "daves", "dave", "dave-pw", guest=False) != "OK":
        assert time.monotonic() < deadline, "dave's hidden share did not come back"
        time.sleep(0.2)


def test_guests_cannot_be_allowed_on_hidden_shares(nas: SmbNas) -> None:
    from nasfs.errors import NasfsError

    with pytest.raises(NasfsError, match="cannot allow guests"):
        nas.admin.share_edit("secret", guest=True)
