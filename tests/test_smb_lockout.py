"""SMB logins in the lock-out, through a real smbd: failed SMB passwords (read from Samba's
authentication audit) lock the name and the client address; a locked name answers like an
unknown one whatever the password, a locked address is refused when it connects, and
unlocking restores access. Locks made at the console hold for SMB too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.smb_util import EVERYONE_RW, HOST, SmbNas, smb_nas

USERS = {"alice": (46131, "alice-pw"), "bob": (46132, "bob-pw"), "carol": (46133, "carol-pw")}
MAX_FAILURES = 3


@pytest.fixture(scope="module")
def nas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbNas]:
    with smb_nas(tmp_path_factory.mktemp("smb"), USERS, max_failures=MAX_FAILURES) as nas:
        nas.share("docs", EVERYONE_RW)
        yield nas


def wait_for(nas: SmbNas, what: str, test: Callable[[dict[str, Any]], bool]) -> None:
    """Until smbd's status shows `test` (the audit watcher runs every half second)."""
    deadline = time.monotonic() + 60
    while not test(status := nas.status()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen: {status}")
        time.sleep(0.1)


def last_system_id(nas: SmbNas) -> int:
    rows = nas.admin.log_query("system", limit=1, descending=True).rows
    return int(rows[0]["id"]) if rows else 0


def smb_logins(nas: SmbNas, after: int, count: int, user: str | None = None
               ) -> list[dict[str, Any]]:
    """The `auth.login` rows of SMB attempts after row `after`, once there are `count`
    (SMB attempts are counted as the watcher reads Samba's audit, a moment later)."""
    deadline = time.monotonic() + 60
    while True:
        rows = [r for r in nas.admin.log_query("system", after_id=after, limit=1000).rows
                if r["operation"] == "auth.login" and r["second_path"] == HOST
                and user in (None, r["user"])]
        if len(rows) >= count:
            return rows
        if time.monotonic() > deadline:
            pytest.fail(f"{count} SMB logins were not counted: {rows}")
        time.sleep(0.1)


def logs_in(nas: SmbNas, user: str, password: str) -> str:
    done = nas.smbclient("docs", user, password, "ls")
    if done.returncode == 0:
        return "OK"
    text = done.stdout + done.stderr
    for status in ("NT_STATUS_LOGON_FAILURE", "NT_STATUS_CONNECTION_DISCONNECTED",
                   "NT_STATUS_CONNECTION_RESET", "NT_STATUS_CONNECTION_REFUSED",
                   "NT_STATUS_ACCOUNT_DISABLED", "NT_STATUS_IO_TIMEOUT"):
        if status in text:
            return status
    return text.strip()


def test_a_console_lock_holds_for_smb_and_unlocking_restores_it(nas: SmbNas) -> None:
    for _ in range(MAX_FAILURES):
        assert not nas.admin.auth_check("bob", "guess", "tty-test").ok
    wait_for(nas, "bob's lock reaching Samba", lambda s: s["locked_users"] == ["bob"])
    after = last_system_id(nas)
    # Locked: the right password and a wrong one get the same answer (no oracle).
    assert logs_in(nas, "bob", "bob-pw") == "NT_STATUS_LOGON_FAILURE"
    assert logs_in(nas, "bob", "wrong") == "NT_STATUS_LOGON_FAILURE"
    assert logs_in(nas, "alice", "alice-pw") == "OK"
    rows = smb_logins(nas, after, 3)
    assert [(r["user"], r["result"]) for r in rows] == [
        ("bob", "locked"), ("bob", "locked"), ("alice", "OK")]
    nas.admin.user_unlock("bob")
    nas.admin.user_unlock(source="tty-test")
    wait_for(nas, "bob's unlock reaching Samba", lambda s: s["locked_users"] == [])
    assert logs_in(nas, "bob", "bob-pw") == "OK"


def test_failed_smb_logins_lock_the_name_and_the_address(nas: SmbNas) -> None:
    after = last_system_id(nas)
    for _ in range(MAX_FAILURES):
        assert logs_in(nas, "carol", "guess") == "NT_STATUS_LOGON_FAILURE"
    smb_logins(nas, after, MAX_FAILURES, "carol")
    wait_for(nas, "the SMB lock", lambda s: s["locked_users"] == ["carol"]
             and s["denied_addresses"] == [HOST])
    locks = {(lock["kind"], lock["subject"]) for lock in nas.admin.call("auth.locks")}
    assert locks == {("user", "carol"), ("source", HOST)}
    rows = smb_logins(nas, after, MAX_FAILURES, "carol")
    assert [(r["user"], r["result"]) for r in rows] == [("carol", "EACCES")] * MAX_FAILURES
    assert all(f"from {HOST}" in r["detail"] for r in rows)
    # The address is refused at connect time: even alice, with her right password.
    assert logs_in(nas, "alice", "alice-pw") != "OK"
    assert "hosts deny = 127.0.0.1" in nas.conf.read_text()
    # Unlocking carol also frees the address her failures locked.
    report = nas.admin.user_unlock_report("carol")
    assert report.sources_unlocked == [HOST]
    wait_for(nas, "the unlock", lambda s: s["locked_users"] == [] and s["denied_addresses"] == [])
    after = last_system_id(nas)
    assert logs_in(nas, "alice", "alice-pw") == "OK"
    assert logs_in(nas, "carol", "carol-pw") == "OK"
    # Counted before the next test's attempts: a success read from the audit later would
    # clear failures that test makes on purpose.
    smb_logins(nas, after, 2)


def test_a_password_set_while_locked_stays_locked(nas: SmbNas) -> None:
    for _ in range(MAX_FAILURES):
        assert not nas.admin.auth_check("alice", "guess", "tty-test2").ok
    wait_for(nas, "alice's lock", lambda s: s["locked_users"] == ["alice"])
    nas.admin.user_passwd("alice", "alice-new")
    after = last_system_id(nas)
    assert logs_in(nas, "alice", "alice-new") == "NT_STATUS_LOGON_FAILURE"
    assert [r["result"] for r in smb_logins(nas, after, 1, "alice")] == ["locked"]
    nas.admin.user_unlock("alice")
    nas.admin.user_unlock(source="tty-test2")
    wait_for(nas, "alice's unlock", lambda s: s["locked_users"] == [])
    assert logs_in(nas, "alice", "alice-new") == "OK"
    assert logs_in(nas, "alice", "alice-pw") == "NT_STATUS_LOGON_FAILURE"
