"""Scheduled-verify and digest fire times kept in policy.db: one that passed while the
daemon was down is made up once after it, never for the past of a new or changed schedule;
and the destination space measured at the end of a job's last good run. On a real policy
database, closed and opened again in between as a daemon restart does."""

from __future__ import annotations

from pathlib import Path

from nasfs.backup.fire_times import DIGEST, due
from nasfs.backup.model import job_from_json
from nasfs.backup.repository import VERIFY, JobRepository
from nasfs.policy import PolicyService
from tests.policy_util import open_policy

T0 = 1_796_000_400.0  # 2026-11-30T01:00:00Z, on the hour
HOURLY = "0 * * * *"


def _job(name: str) -> dict[str, object]:
    return {"name": name, "source": "docs",
            "destination": {"kind": "usb", "uuid": "1234-ABCD"},
            "options": {"verify_schedule": HOURLY}}


def _reopened(base: Path, policy: PolicyService) -> tuple[PolicyService, JobRepository]:
    policy.close()
    again = open_policy(base)
    return again, JobRepository(again)


def _is_verify(name: str) -> bool:
    return name.startswith(VERIFY)


def test_a_fire_time_missed_while_down_is_made_up_once(tmp_path: Path) -> None:
    policy = open_policy(tmp_path)
    repo = JobRepository(policy)
    repo.put(job_from_json(_job("office")), new=True)
    hourly = {VERIFY + "office": HOURLY}
    assert due(repo, hourly, T0 + 10, _is_verify)[0] == []  # first look: not the past
    assert due(repo, hourly, T0 + 3600 + 5, _is_verify)[0] == [VERIFY + "office"]
    # The daemon stops for five hours and starts again.
    policy, repo = _reopened(tmp_path, policy)
    fired, before = due(repo, hourly, T0 + 6 * 3600 + 5, _is_verify)
    assert fired == [VERIFY + "office"]  # made up, once
    assert before == {VERIFY + "office": T0 + 3600}
    assert due(repo, hourly, T0 + 6 * 3600 + 40, _is_verify)[0] == []
    policy, repo = _reopened(tmp_path, policy)
    assert due(repo, hourly, T0 + 6 * 3600 + 70, _is_verify)[0] == []  # handled already
    # Another schedule starts afresh (no fire for the past), even across a restart.
    daily = {VERIFY + "office": "30 2 * * *"}
    assert due(repo, daily, T0 + 9 * 3600, _is_verify)[0] == []
    policy, repo = _reopened(tmp_path, policy)
    assert due(repo, daily, T0 + 9 * 3600 + 60, _is_verify)[0] == []
    assert due(repo, daily, T0 + 26 * 3600, _is_verify)[0] == [VERIFY + "office"]
    # The digest is its own name: the verifies' look leaves it alone, and back.
    assert due(repo, {DIGEST: HOURLY}, T0 + 26 * 3600, lambda n: n == DIGEST)[0] == []
    assert due(repo, {}, T0 + 27 * 3600, _is_verify)[0] == []  # verify schedule removed
    assert set(repo.fire_times()) == {DIGEST}
    policy, repo = _reopened(tmp_path, policy)
    assert due(repo, {DIGEST: HOURLY}, T0 + 28 * 3600 + 1, lambda n: n == DIGEST) == (
        [DIGEST], {DIGEST: T0 + 26 * 3600})
    policy.close()


def test_renaming_and_deleting_a_job_take_its_fire_time_and_space_along(
        tmp_path: Path) -> None:
    policy = open_policy(tmp_path)
    repo = JobRepository(policy)
    repo.put(job_from_json(_job("office")), new=True)
    assert repo.last_space("office") is None
    repo.set_last_space("office", 72 << 30, 250 << 30, T0)
    due(repo, {VERIFY + "office": HOURLY}, T0, _is_verify)
    repo.rename("office", job_from_json(_job("office-usb")))
    policy, repo = _reopened(tmp_path, policy)
    assert repo.last_space("office-usb") == (72 << 30, 250 << 30, T0)
    assert set(repo.fire_times()) == {VERIFY + "office-usb"}
    assert due(repo, {VERIFY + "office-usb": HOURLY}, T0 + 3605,
               _is_verify)[0] == [VERIFY + "office-usb"]
    repo.delete("office-usb")
    assert repo.fire_times() == {}
    policy.close()
