"""Daemon errors in words a non-programmer understands, each with what to do about it.

The daemon's own message is one clear sentence already; this module adds the "what now"
that fits the error code, and replaces the few codes whose message is meant for programmers.
"""

from __future__ import annotations

import logging

from nasfs.client import DaemonError, DaemonGone, DaemonNotRunning

log = logging.getLogger(__name__)

# What to do, by the protocol's error code (docs/control-protocol.md).
ADVICE: dict[str, str] = {
    "job_busy": "Wait for the running job to finish (the Dashboard shows its progress), "
                "then try again.",
    "not_mounted": "Mount the array first, then try again.",
    "rebuild": "Check the disk number and that the new directory is empty, then try again.",
    "rebuild_argument": "Check the disk number and that the new directory is empty, then "
                        "try again.",
    "assembly": "Check that every disk is connected, then restart the array.",
    "array_busy": "Another nasfs command is using the array; wait a moment and try again.",
    "shutting_down": "The array is stopping. Wait until it has stopped, then start it again.",
    "permission_denied": "The console must run as root (the systemd unit does that).",
    "enospc": "The array or a disk is full. Delete files or empty the trash, then try again.",
    "bad_params": "Check what you typed and try again.",
    "unknown_method": "This version of the nasfs daemon cannot do that yet.",
    # The daemon's message states the rule that was broken (nasfs.policy.names); a second,
    # general rule here contradicted it for share names.
    "invalid_name": "Change the name and try again.",
    "invalid_value": "Check the value and try again.",
    "already_exists": "Choose another name or number.",
    "not_found": "It may have just been removed; the list is refreshed.",
    "group_in_use": "Remove it from the shares that name it first.",
    "policy_unavailable": "The service is starting or stopping; try again in a moment.",
    "scrub_cancelled": "Nothing is lost: press C on the Disks screen to check again; "
                       "`nasfs scrub --resume` goes on from where it stopped.",
    "no_job": "The check had already finished.",
    "mail": "Change the mail settings (mail.host, mail.port, mail.user...) and send a test "
            "mail again.",
    "mail_not_configured": "Fill in the mail settings below, then send a test mail again.",
    "internal": "This is a fault in nasfs, not something you did. The daemon's log has the "
                "details; please report it.",
}

NOT_RUNNING = "The nasfs service is not running: the office cannot reach its files."


def problem(error: BaseException) -> str:
    """Why the daemon cannot be used, for the banner (which shows the keys to act on it)."""
    if isinstance(error, DaemonNotRunning):
        return NOT_RUNNING
    if isinstance(error, DaemonGone):
        return "The nasfs service stopped while the console was talking to it."
    return explain(error)


def explain(error: BaseException) -> str:
    """One or two sentences: what went wrong and what to do."""
    if isinstance(error, DaemonNotRunning):
        return f"{NOT_RUNNING} Press F11 to start it."
    if isinstance(error, DaemonGone):
        return ("The nasfs service stopped while the console was talking to it. "
                "If it does not come back, press F11 to start it again.")
    if isinstance(error, DaemonError):
        message = _sentence(str(error))
        if error.code == "internal":
            message = "The nasfs service hit an internal error."
        advice = ADVICE.get(error.code, "")
        return f"{message} {advice}".strip()
    log.warning("unexpected error shown to the administrator: %r", error)
    return f"{_sentence(str(error) or type(error).__name__)} Please try again."


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
