"""Mail notifications through a real SMTP server on loopback (aiosmtpd), sent by a real
daemon running in the test's trio loop over a real array: `mail.test`, a degraded array
when a member directory is emptied under the running daemon, lock-outs, a mail server that
refuses connections (a system-log row, the daemon carries on), the password never shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mail_util import (
    Inbox,
    Running,
    free_port,
    members,
    run_dir,
    running,
    smtp,
    wait_until,
)

from nasfs.client import DaemonError

__all__ = ["members", "run_dir", "running", "smtp"]  # fixtures


async def use_server(running: Running, port: int, **more: object) -> None:
    values: dict[str, object] = {
        "mail_host": "127.0.0.1", "mail_port": port, "mail_starttls": False,
        "mail_from": "nas@example.com", "mail_to": "admin@example.com", "mail_enabled": True}
    await running.settings(**{**values, **more})


async def test_test_mail_arrives(running: Running, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    sent = await running.call(lambda c: c.mail_test())
    assert sent == ["admin@example.com"]
    message = inbox.find("Test mail")
    assert message is not None
    assert message["From"] == "nas@example.com" and message["To"] == "admin@example.com"
    assert "the mail settings work" in message.get_content()
    # Another address than mail.to, for trying before saving.
    assert await running.call(lambda c: c.mail_test(["other@example.com"])) == \
        ["other@example.com"]
    assert inbox.recipients[-1] == ["other@example.com"]
    rows = await running.system_rows("mail.send")
    assert [r["result"] for r in rows] == ["OK", "OK"]


async def test_test_mail_errors_in_plain_words(running: Running,
                                               smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.mail_test())
    assert info.value.code == "mail_not_configured"
    assert "set mail.host" in str(info.value)
    await use_server(running, port, mail_starttls=True)
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.mail_test())
    assert "does not offer STARTTLS" in str(info.value)
    dead = free_port()
    await running.settings(mail_port=dead, mail_starttls=False)
    with pytest.raises(DaemonError) as info:
        await running.call(lambda c: c.mail_test())
    assert info.value.code == "mail"
    assert str(info.value) == (f"the mail server 127.0.0.1:{dead} refused the connection; "
                               "check mail.host and mail.port")
    assert inbox.messages == []


async def test_password_is_stored_but_never_shown(running: Running) -> None:
    answer = await running.policy(lambda p: p.settings_set("mail.password", "s3cret!"))
    assert answer == "set"
    values = await running.policy(lambda p: p.settings_get())
    assert values["mail.password"] == "set"
    assert running.daemon.policy.settings()["mail.password"] == "s3cret!"
    rows = await running.system_rows("settings.set")
    assert rows and all("s3cret" not in (r["detail"] or "") for r in rows)
    await running.policy(lambda p: p.settings_set("mail.password", ""))
    assert (await running.policy(lambda p: p.settings_get()))["mail.password"] == "unset"


async def test_mail_settings_are_checked(running: Running) -> None:
    for key, value, words in (("mail.to", "not-an-address", "mail addresses"),
                              ("mail.port", 70000, "up to 65535"),
                              ("mail.enabled", "maybe", "yes or no"),
                              ("mail.capacity_percent", "80, 120", "percentages")):
        with pytest.raises(DaemonError) as info:
            await running.policy(lambda p, k=key, v=value: p.settings_set(k, v))
        assert info.value.code == "invalid_value" and words in str(info.value)
    to = await running.policy(lambda p: p.settings_set("mail.to", "a@x.org, b@y.org"))
    assert to == ["a@x.org", "b@y.org"]


async def test_emptied_member_mails_degraded(running: Running, members: list[Path],
                                             smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    shutil.rmtree(members[1])
    members[1].mkdir()
    message = await wait_until(lambda: inbox.find("The array is degraded"),
                               "the degraded-array mail")
    body = message.get_content()
    assert "Missing: disk 2." in body and "slot" not in body
    # The reason depends on which probe sees it first: the label gone (before the mkdir) or
    # the path leading to another directory than the one assembled (after it).
    assert ("label" in body or "another directory" in body) and "rebuild" in body
    status = await running.call(lambda c: c.status())
    assert status.state == "degraded" and status.missing == [1]
    # One mail for one change: the member event is folded into it.
    assert sum("degraded" in s for s in inbox.subjects()) == 1


async def test_lock_out_mails_once(running: Running, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await use_server(running, port)
    await running.settings(auth_max_failures=2)
    for _ in range(2):
        answer = await running.policy(lambda p: p.auth_check("mallory", "guess", "tty7"))
        assert not answer.ok
    message = await wait_until(lambda: inbox.find("Login locked: mallory"),
                               "the lock-out mail for the name")
    assert "2 failed logins" in message.get_content()
    await wait_until(lambda: inbox.find("Login locked: tty7"), "the lock-out mail for the "
                     "terminal")
    await running.policy(lambda p: p.auth_check("mallory", "guess", "tty7"))
    await wait_until(lambda: running.daemon.notifier.statistics()["queued"] == 0,
                     "the queue to empty")
    # Refused while locked: no new lock, so no new mail.
    assert sum("mallory" in s for s in inbox.subjects()) == 1


async def test_refusing_server_is_logged_and_daemon_carries_on(running: Running) -> None:
    dead = free_port()
    await use_server(running, dead, mail_attempts=1)
    await running.settings(auth_max_failures=1)
    answer = await running.policy(lambda p: p.auth_check("eve", "guess", "tty9"))
    assert not answer.ok

    async def failed_rows() -> list[dict[str, object]]:
        rows = await running.system_rows("mail.send")
        return [r for r in rows if r["result"] == "failed"]

    await wait_until(lambda: running.daemon.notifier.statistics()["given_up"] == 2,
                     "both mails to be given up")
    rows = await failed_rows()
    assert len(rows) == 2, rows
    why = f": not sent: the mail server 127.0.0.1:{dead} refused the connection; check"
    assert {str(r["detail"]).split(why)[0] for r in rows} == {
        "Login locked: eve", "Login locked: tty9"}
    status = await running.call(lambda c: c.status())
    assert status.state == "healthy"
    assert running.daemon.notifier.statistics()["given_up"] == 2
