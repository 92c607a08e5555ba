"""Accounts and lock-out on real policy databases, with a hand-moved clock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.errors import NasfsError
from nasfs.policy import ManualClock, PolicyService
from nasfs.policy.admin import Actor
from nasfs.policy.auditstore import LogFilter
from tests.policy_util import ROOT, open_policy


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_750_000_000)


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock) -> Iterator[PolicyService]:
    svc = open_policy(tmp_path, clock)
    yield svc
    svc.close()


def call(service: PolicyService, method: str, **params: object) -> object:
    return service.admin.call(method, params, ROOT)


def system_ops(service: PolicyService) -> list[tuple[str, str, str | None]]:
    rows = service.audit_store.query("system", LogFilter(), limit=1000)
    return [(r.operation, r.result, r.user) for r in rows]


def test_user_and_group_crud(service: PolicyService) -> None:
    call(service, "user.add", name="alice", uid=1001, password="s3cret")
    call(service, "user.add", name="bob", uid=1002)
    call(service, "group.add", name="sales", gid=2000)
    call(service, "group.adduser", group="sales", user="alice")
    call(service, "group.adduser", group="sales", user="bob")
    call(service, "group.deluser", group="sales", user="bob")
    users = call(service, "user.list")
    assert users == [
        {"name": "alice", "uid": 1001, "has_password": True, "is_admin": False,
         "locked": False, "groups": ["sales"]},
        {"name": "bob", "uid": 1002, "has_password": False, "is_admin": False,
         "locked": False, "groups": []}]
    assert call(service, "group.list") == [{"name": "sales", "gid": 2000,
                                            "members": ["alice"]}]
    call(service, "user.del", name="alice")
    assert call(service, "group.list") == [{"name": "sales", "gid": 2000, "members": []}]
    assert [u["name"] for u in call(service, "user.list")] == ["bob"]  # type: ignore[attr-defined]
    assert service.identity_for(1001, 1001).is_guest
    ops = [op for op, _, _ in system_ops(service)]
    assert ops == ["user.add", "user.add", "group.add", "group.adduser", "group.adduser",
                   "group.deluser", "user.del"]


@pytest.mark.parametrize(("method", "params", "text"), [
    ("user.add", {"name": "9lives", "uid": 5}, "is not valid"),
    ("user.add", {"name": "a b", "uid": 5}, "is not valid"),
    ("user.add", {"name": "", "uid": 5}, "cannot be empty"),
    ("user.add", {"name": "x" * 33, "uid": 5}, "is not valid"),
    ("user.add", {"name": "alice", "uid": 7}, "exists already"),
    ("user.add", {"name": "Alice", "uid": 7}, "differ only in case are one name over SMB"),
    ("user.add", {"name": "carol", "uid": 1001}, "uid 1001 belongs to user 'alice'"),
    ("user.add", {"name": "root", "uid": 7}, "reserved for the administrator"),
    ("user.add", {"name": "admin", "uid": 0}, "must be called 'root'"),
    ("user.add", {"name": "dave", "uid": -1}, "not a valid id"),
    ("user.add", {"name": "dave", "uid": 9, "password": ""}, "cannot be empty"),
    ("user.del", {"name": "nobody"}, "no user 'nobody'"),
    ("user.passwd", {"name": "nobody", "password": "x"}, "no user 'nobody'"),
    ("group.add", {"name": "g", "gid": 2000}, "gid 2000 belongs to group 'sales'"),
    ("group.add", {"name": "sales", "gid": 9}, "exists already"),
    ("group.adduser", {"group": "sales", "user": "nobody"}, "no user 'nobody'"),
    ("group.deluser", {"group": "sales", "user": "alice"}, "not a member"),
    ("user.add", {"name": "dave"}, "needs the parameter 'uid'"),
    ("user.add", {"name": "dave", "uid": "7"}, "must be int"),
])
def test_account_validation(service: PolicyService, method: str, params: dict[str, object],
                            text: str) -> None:
    call(service, "user.add", name="alice", uid=1001)
    call(service, "group.add", name="sales", gid=2000)
    with pytest.raises(NasfsError, match=text):
        service.admin.call(method, params, ROOT)
    # The failed attempt is in the system log with its error code.
    op, result, _ = system_ops(service)[-1]
    if (method == "user.add" and "uid" not in params) or params.get("uid") == "7":
        return  # bad params are refused before the call is attempted
    assert op == method and result != "OK"


def test_passwords_are_argon2id(service: PolicyService, tmp_path: Path) -> None:
    call(service, "user.add", name="alice", uid=1001, password="correct horse")
    copies = list(tmp_path.glob("disk*/nasfs/db/policy.db"))
    assert len(copies) == 3
    service.policy_db.commit(durable=True)
    conn = sqlite3.connect(copies[0])
    stored = conn.execute("SELECT pw_hash FROM user WHERE name = 'alice'").fetchone()[0]
    conn.close()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert call(service, "auth.check", name="alice", password="correct horse",
                source="tty1") == {"ok": True, "locked": False, "message": "ok"}
    call(service, "user.passwd", name="alice", password="battery staple")
    assert not call(service, "auth.check", name="alice", password="correct horse",
                    source="tty1")["ok"]  # type: ignore[index]
    assert call(service, "auth.check", name="alice", password="battery staple",
                source="tty1")["ok"]  # type: ignore[index]


def test_wrong_user_and_wrong_password_look_the_same(service: PolicyService) -> None:
    call(service, "user.add", name="alice", uid=1001, password="right")
    call(service, "user.add", name="nopw", uid=1002)
    wrong_password = call(service, "auth.check", name="alice", password="wrong", source="a")
    wrong_user = call(service, "auth.check", name="mallory", password="wrong", source="b")
    no_password = call(service, "auth.check", name="nopw", password="", source="c")
    assert wrong_password == wrong_user == no_password == {
        "ok": False, "locked": False, "message": "the user name or password is wrong"}


def test_lock_after_n_failures_then_unlock_after_period(service: PolicyService,
                                                        clock: ManualClock) -> None:
    call(service, "user.add", name="alice", uid=1001, password="right")
    for i in range(5):
        answer = call(service, "auth.check", name="alice", password=f"guess{i}",
                      source=f"tty{i}")
        assert answer == {"ok": False, "locked": False,
                          "message": "the user name or password is wrong"}
        clock.advance(10)
    # Locked now: even the right password is refused, and the answer says so.
    answer = call(service, "auth.check", name="alice", password="right", source="tty9")
    assert answer["locked"] is True and answer["ok"] is False  # type: ignore[index]
    assert call(service, "user.list")[0]["locked"] is True  # type: ignore[index]
    clock.advance(1800 - 10 - 1)  # the lock began with the 5th failure, 10 s ago
    assert call(service, "auth.check", name="alice", password="right",
                source="tty9")["locked"] is True  # type: ignore[index]
    clock.advance(2)
    assert call(service, "auth.check", name="alice", password="right",
                source="tty9")["ok"] is True  # type: ignore[index]
    ops = system_ops(service)
    assert ("auth.lock", "OK", "alice") in ops
    assert ("auth.unlock", "OK", "alice") in ops
    assert sum(1 for op, result, _ in ops if op == "auth.login" and result == "EACCES") == 5


def test_failures_outside_the_window_do_not_count(service: PolicyService,
                                                  clock: ManualClock) -> None:
    call(service, "user.add", name="alice", uid=1001, password="right")
    for i in range(8):
        call(service, "auth.check", name="alice", password="wrong", source=f"t{i}")
        clock.advance(200)  # 4 failures per 600 s window at most
    assert call(service, "auth.check", name="alice", password="right",
                source="t9")["ok"] is True  # type: ignore[index]


def test_admin_unlock_and_permanent_mode(service: PolicyService, clock: ManualClock) -> None:
    call(service, "user.add", name="alice", uid=1001, password="right")
    call(service, "settings.set", key="auth.lock_mode", value="permanent")
    call(service, "settings.set", key="auth.max_failures", value="3")
    for i in range(3):
        call(service, "auth.check", name="alice", password="wrong", source=f"t{i}")
    clock.advance(10 * 86400)
    assert call(service, "auth.check", name="alice", password="right",
                source="t9")["locked"] is True  # type: ignore[index]
    assert call(service, "user.unlock", name="alice")["was_locked"] is True  # type: ignore[index]
    assert call(service, "auth.check", name="alice", password="right",
                source="t9")["ok"] is True  # type: ignore[index]
    assert ("auth.unlock", "OK", "root") in system_ops(service)


def test_source_is_locked_before_it_can_lock_everyone(service: PolicyService) -> None:
    for i in range(10):
        call(service, "user.add", name=f"user{i}", uid=1000 + i, password=f"pw{i}")
    # One attacker from one address tries each account once.
    for i in range(5):
        call(service, "auth.check", name=f"user{i}", password="guess", source="10.0.0.66")
    answer = call(service, "auth.check", name="user7", password="pw7", source="10.0.0.66")
    assert answer["locked"] is True  # type: ignore[index]
    # Nobody's account was locked, so from elsewhere everyone still logs in.
    for i in range(10):
        assert call(service, "auth.check", name=f"user{i}", password=f"pw{i}",
                    source="tty1")["ok"] is True  # type: ignore[index]
    call(service, "user.unlock", source="10.0.0.66")
    assert call(service, "auth.check", name="user7", password="pw7",
                source="10.0.0.66")["ok"] is True  # type: ignore[index]


def test_settings_validation(service: PolicyService) -> None:
    assert call(service, "settings.get")["auth.max_failures"] == 5  # type: ignore[index]
    for key, value, text in [("auth.max_failures", "0", "positive"),
                             ("auth.lock_mode", "forever", "one of timed, permanent"),
                             ("no.such", "1", "no setting 'no.such'")]:
        with pytest.raises(NasfsError, match=text):
            call(service, "settings.set", key=key, value=value)
    call(service, "settings.set", key="auth.window_s", value=60)
    assert call(service, "settings.get", key="auth.window_s") == {"auth.window_s": 60}


def test_settings_survive_reopen(tmp_path: Path, clock: ManualClock) -> None:
    svc = open_policy(tmp_path, clock)
    svc.admin.call("settings.set", {"key": "log.retention_days", "value": "30"}, Actor(0))
    svc.admin.call("user.add", {"name": "alice", "uid": 1001}, Actor(0))
    svc.close()
    svc = open_policy(tmp_path, clock)
    try:
        assert svc.setting("log.retention_days") == 30
        assert svc.identity_for(1001, 100).name == "alice"
    finally:
        svc.close()


def test_trash_default_days_apply_to_new_shares(service: PolicyService) -> None:
    assert call(service, "share.create", name="before")["trash_days"] == 30  # type: ignore[index]
    call(service, "settings.set", key="trash.default_days", value="7")
    assert call(service, "share.create", name="after")["trash_days"] == 7  # type: ignore[index]
    explicit = call(service, "share.create", name="own", trash_days=90)
    assert explicit["trash_days"] == 90  # type: ignore[index]
    assert call(service, "share.show", name="before")["trash_days"] == 30  # type: ignore[index]


def test_time_zone_setting_is_checked(service: PolicyService) -> None:
    assert call(service, "settings.get", key="system.timezone") == {"system.timezone": "UTC"}
    with pytest.raises(NasfsError, match="unknown time zone"):
        call(service, "settings.set", key="system.timezone", value="Mars/Olympus")
    call(service, "settings.set", key="system.timezone", value="Asia/Tokyo")
    assert call(service, "settings.get", key="system.timezone") == {
        "system.timezone": "Asia/Tokyo"}


def test_locked_login_says_for_how_long_and_how_to_unlock(service: PolicyService,
                                                          clock: ManualClock) -> None:
    call(service, "user.add", name="carol", uid=1003, password="right")
    for _ in range(5):
        call(service, "auth.check", name="carol", password="wrong", source="console")
    answer = call(service, "auth.check", name="carol", password="right", source="console")
    assert answer["locked"] is True  # type: ignore[index]
    assert answer["message"] == (  # type: ignore[index]
        "too many failed logins: the name carol is locked for 30 more minutes; logins from "
        "console are locked for 30 more minutes. An administrator can unlock them now with "
        "'nasfs user unlock carol' and 'nasfs user unlock --source console'.")


def test_unlocking_a_user_frees_a_source_only_they_locked(service: PolicyService) -> None:
    call(service, "user.add", name="alice", uid=1001, password="right")
    call(service, "user.add", name="bob", uid=1002, password="right")
    for _ in range(5):
        call(service, "auth.check", name="alice", password="wrong", source="console")
    report = call(service, "user.unlock", name="alice")
    assert report["sources_unlocked"] == ["console"]  # type: ignore[index]
    assert call(service, "auth.check", name="alice", password="right",
                source="console")["ok"] is True  # type: ignore[index]
    # Failures for two names at one terminal: unlocking one name says the terminal stays.
    for name in ("alice", "bob", "alice", "bob", "alice"):
        call(service, "auth.check", name=name, password="wrong", source="tty2")
    report = call(service, "user.unlock", name="alice")
    assert report["sources_still_locked"] == ["tty2"]  # type: ignore[index]
    from nasfs.client.policy import UnlockReport
    from nasfs.wire.types import from_dict

    assert "logins from tty2 stay locked (other names failed there too): 'nasfs user " \
           "unlock --source tty2' lifts that" in from_dict(UnlockReport, report).sentence()
