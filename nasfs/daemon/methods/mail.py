"""Control method `mail.test`, and the wiring of the daemon's mail notifier.

`register` connects the notifier (nasfs.mail.notifier) to what it reports on: the
daemon's events (member failures, scrub and rebuild results, snapshots removed for space),
the system log's lock-out rows, and a periodic `array-watch` job (health and capacity,
nasfs.mail.watch). The mail settings themselves are ordinary settings (`settings.get/set`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.control import MethodTable, Request
from nasfs.mail import notices
from nasfs.mail.watch import INTERVAL_S, ArrayWatch, run_check
from nasfs.policy.errors import InvalidValue

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost, Event

log = logging.getLogger(__name__)

MEMBER_EVENTS = ("member-missing", "member-failed")


def register(table: MethodTable, daemon: DaemonHost) -> None:
    notifier = daemon.notifier
    array = daemon.array
    policy = array.policy
    notifier.attach(policy.settings, policy.log_system)

    def lock_outs(rows: Any) -> None:
        for notice in notices.for_log_rows(rows):
            notifier.notify(notice)

    policy.on_system_log.append(lock_outs)

    watch = ArrayWatch(array.store, notifier.notify, policy.settings)
    token = trio.lowlevel.current_trio_token()

    def poke_watch() -> None:
        with contextlib.suppress(KeyError):
            daemon.jobs.poke("array-watch")

    def on_event(event: Event, raw: Any) -> None:
        if event.source == "store" and event.kind in MEMBER_EVENTS:
            # One mail per change of the array's state, made by the watch with these words.
            watch.member_event(f"{notices.disk(getattr(raw, 'member', None))}: {event.detail}")
            token.run_sync_soon(poke_watch)
            return
        if event.source == "store":
            notifier.notify(notices.for_store_event(
                event.kind, getattr(raw, "member", None), getattr(raw, "path", None),
                event.detail))
        else:
            notifier.notify(notices.for_daemon_note(event.kind, event.detail))

    daemon.event_listeners.append(on_event)
    daemon.jobs.add("array-watch", INTERVAL_S, lambda: run_check(watch))

    async def mail_test(request: Request) -> Any:
        to = request.param("to", (str, list), None)
        recipients = [to] if isinstance(to, str) else to
        if recipients is not None and not all(isinstance(r, str) for r in recipients):
            raise InvalidValue("parameter 'to' of method 'mail.test' must be addresses")
        sent_to = await notifier.send_test(
            recipients, f"array {daemon.array_uuid} on {socket.gethostname()}, asked by "
            f"pid {request.peer.pid}")
        return {"to": sent_to}

    table.add("mail.test", mail_test)
