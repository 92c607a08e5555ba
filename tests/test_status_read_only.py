"""The read-only fail-safe state as status, the console and the mail put it (docs/space.md):
the reason and the way out, in every place the administrator looks."""

from __future__ import annotations

from console.screens.dashboard import alerts_text, state_sentence
from console.state import ConsoleState
from nasfs.cli.mount import status_exit_code
from nasfs.cli.status import format_status
from nasfs.client import ArrayStatus
from nasfs.exitcodes import DEGRADED, OK
from nasfs.mail.notices import for_daemon_note, for_store_event
from nasfs.wire.types import Capacity, MemberStatus

REASON = "the fs database could not be written (no copy has room: database or disk is full)"


def _status(read_only: str | None) -> ArrayStatus:
    return ArrayStatus(
        state="healthy", array_uuid="u", generation=1, nparity=1,
        members=[MemberStatus(i, f"/srv/disk{i}", "ok") for i in range(3)], missing=[],
        rebuild_in_progress=None, capacity=Capacity(1, 1, 0, 0, 0, 1), mounted=True,
        mountpoint="/srv/nas", source="daemon", daemon_pid=1, uptime_s=1.0,
        read_only=read_only)


def test_status_text_json_and_exit_code_say_read_only() -> None:
    status = _status(REASON)
    text = format_status(status)
    assert "READ-ONLY (fail-safe)" in text and REASON in text and "retry-writes" in text
    assert ArrayStatus.from_json(status.to_json()).read_only == REASON
    assert status_exit_code([status]) == DEGRADED
    plain = _status(None)
    assert "READ-ONLY" not in format_status(plain)
    assert status_exit_code([plain]) == OK


def test_the_console_says_read_only_with_the_reason() -> None:
    state = ConsoleState(status=_status(REASON), daemon_running=True)
    assert state.state_word == "READ-ONLY"
    sentence = state_sentence(state)
    assert sentence.startswith("READ-ONLY") and REASON in sentence
    assert "retry-writes" in sentence
    assert ConsoleState(status=_status(None), daemon_running=True).state_word == "HEALTHY"


def test_alerts_and_mails_name_the_state_and_what_to_do() -> None:
    from nasfs.wire.types import EventRecord

    status = _status(REASON)
    status.events.append(EventRecord(1.7e9, "daemon", "read-only",
                                     f"/srv/nas is read-only: {REASON}"))
    assert "read only" in alerts_text(status).plain
    notice = for_daemon_note("read-only", f"/srv/nas is read-only: {REASON}")
    assert notice is not None and "READ-ONLY" in notice.subject
    assert "retry-writes" in notice.body and REASON in notice.body
    back = for_daemon_note("writable-again", "/srv/nas takes changes again")
    assert back is not None and "again" in back.subject
    full = for_store_event("db-full", 2, "/srv/disk2/nasfs/db/fs.db",
                           "fs.db copy /srv/disk2/nasfs/db/fs.db: its disk is full")
    assert full is not None and "full" in full.subject and "no change is lost" in full.body
