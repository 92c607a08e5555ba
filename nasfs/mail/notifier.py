"""The daemon's mail queue: notices go in from any thread; one trio task sends them.

Sending runs in a worker thread (smtplib blocks) with a timeout per network operation and
`mail.attempts` tries with growing pauses, so a slow or dead mail server never blocks the
daemon. Nothing is lost silently: every mail sent, and every mail given up (server refused,
unreachable, not configured, daemon stopping) is a system-log row (`mail.send`) and a log
line. The same notice (its `key`) is mailed at most once per `mail.repeat_s`; the next mail
of that key says how many were held back. With `mail.enabled` off, notices are dropped
(they are still in the daemon's events and the logs).
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio

from nasfs.mail.notices import Notice
from nasfs.mail.smtp import MailError, MailSettings, send_mail

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 300.0
SUBJECT_PREFIX = "[nasfs] "

SettingsReader = Callable[[], Mapping[str, Any]]
LogWriter = Callable[[Sequence[Any]], None]


class Notifier:
    """Queue and send notices. `attach` it to the policy service (settings, system log),
    start `run` in a nursery; `notify` from any thread, before or after `run` starts."""

    def __init__(self, *, first_retry_s: float = FIRST_RETRY_S) -> None:
        self.first_retry_s = first_retry_s
        self._queue: collections.deque[Notice] = collections.deque()
        self._lock = threading.Lock()
        self._token: trio.lowlevel.TrioToken | None = None
        self._wake = trio.Event()
        self._settings: SettingsReader | None = None
        self._system_log: LogWriter | None = None
        self._last_sent: dict[str, float] = {}
        self._held_back: collections.Counter[str] = collections.Counter()
        self._values: Mapping[str, Any] = {}
        self.sent = 0
        self.given_up = 0

    def attach(self, settings: SettingsReader, system_log: LogWriter) -> None:
        """Where settings are read and system-log rows written (the policy service)."""
        self._settings = settings
        self._system_log = system_log

    def statistics(self) -> dict[str, int]:
        with self._lock:
            queued = len(self._queue)
        return {"sent": self.sent, "given_up": self.given_up, "queued": queued}

    # -- in ------------------------------------------------------------------------------

    def notify(self, notice: Notice | None) -> None:
        """Queue a notice (None is ignored). Safe from any thread; never blocks."""
        if notice is None:
            return
        log.info("notice queued: %s", notice.subject)
        with self._lock:
            self._queue.append(notice)
            token = self._token
        if token is None:
            return  # `run` has not started: it looks at the queue first thing
        try:
            trio.lowlevel.current_trio_token()
            in_trio = True
        except RuntimeError:
            in_trio = False
        if in_trio:
            self._wake.set()
        else:
            try:
                token.run_sync_soon(self._wake.set)
            except trio.RunFinishedError:
                log.error("mail not sent, the daemon has stopped: %s", notice.subject)

    # -- out -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send queued notices until cancelled; what is left then is logged as not sent."""
        with self._lock:
            self._token = trio.lowlevel.current_trio_token()
        task_status.started()
        try:
            while True:
                notice = self._pop()
                if notice is None:
                    await self._wake.wait()
                    self._wake = trio.Event()
                    continue
                await self._handle(notice)
        finally:
            with trio.CancelScope(shield=True):
                await self._abandon_rest()

    def _pop(self) -> Notice | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    async def _read_settings(self) -> MailSettings | None:
        reader = self._settings
        if reader is None:
            return None
        values = await trio.to_thread.run_sync(reader)
        self._values = values
        return MailSettings.from_settings(values)

    async def _handle(self, notice: Notice) -> None:
        try:
            settings = await self._read_settings()
        except Exception as exc:
            log.exception("cannot read the mail settings")
            await self._given_up(notice, f"the mail settings cannot be read: {exc}", ())
            return
        if settings is None or not settings.enabled:
            log.info("mail is off; not mailed: %s", notice.subject)
            return
        now = time.monotonic()
        repeat_s = float(self._values.get("mail.repeat_s", 3600))
        last = self._last_sent.get(notice.key)
        if last is not None and now - last < repeat_s:
            self._held_back[notice.key] += 1
            log.info("not mailed again within mail.repeat_s: %s", notice.subject)
            return
        body = notice.body
        held = self._held_back.pop(notice.key, 0)
        if held:
            body += (f"\n\n({held} more notice{'s' if held > 1 else ''} like this one came "
                     "since the last mail and were not mailed separately.)")
        attempts = max(1, int(self._values.get("mail.attempts", 3)))
        subject = SUBJECT_PREFIX + notice.subject
        pause = self.first_retry_s
        for attempt in range(1, attempts + 1):
            try:
                await trio.to_thread.run_sync(
                    functools.partial(send_mail, settings, subject, body),
                    abandon_on_cancel=True)
            except MailError as exc:
                if attempt == attempts:
                    await self._given_up(notice, str(exc), settings.to, attempts)
                    return
                log.warning("mail %r, try %d of %d failed (%s); next try in %.0f s",
                            notice.subject, attempt, attempts, exc, pause)
                await trio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_S)
                continue
            self._last_sent[notice.key] = now
            self.sent += 1
            await self._write_log("OK", settings.to, f"{notice.subject}")
            return

    async def _given_up(self, notice: Notice, why: str, to: Sequence[str],
                        attempts: int = 1) -> None:
        self.given_up += 1
        tries = f" after {attempts} tries" if attempts > 1 else ""
        log.error("mail %r not sent%s: %s", notice.subject, tries, why)
        await self._write_log("failed", to, f"{notice.subject}: not sent{tries}: {why}")

    async def _write_log(self, result: str, to: Sequence[str], detail: str) -> None:
        writer = self._system_log
        if writer is None:
            return
        from nasfs.policy.auditstore import LogEntry

        row = LogEntry("mail.send", result=result, path=", ".join(to) or None, detail=detail)
        try:
            await trio.to_thread.run_sync(writer, [row])
        except Exception:
            log.exception("cannot write the system-log row of a mail: %s", detail)

    async def _abandon_rest(self) -> None:
        while (notice := self._pop()) is not None:
            with trio.move_on_after(5):
                await self._given_up(notice, "the daemon stopped before it was sent", ())

    # -- mail.test -----------------------------------------------------------------------

    async def send_test(self, to: Sequence[str] | None, what: str) -> list[str]:
        """Send a test mail now, once; raises MailError with the server's problem in words."""
        settings = await self._read_settings()
        if settings is None:
            raise MailError("the daemon has not opened its settings yet; try again")
        try:
            sent_to = await trio.to_thread.run_sync(
                functools.partial(send_mail, settings, SUBJECT_PREFIX + "Test mail",
                                  f"This is a test mail from nasfs ({what}).\n\nIf you read "
                                  "this, the mail settings work.", list(to or []) or None),
                abandon_on_cancel=True)
        except MailError as exc:
            await self._write_log("failed", list(to or settings.to), f"test mail: {exc}")
            raise
        await self._write_log("OK", sent_to, "test mail")
        return sent_to

