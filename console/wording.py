"""Daemon errors in words a non-programmer understands, each with what to do about it.

The daemon's own message is one clear sentence already; this module adds the "what now"
that fits the error code, and replaces the few codes whose message is meant for programmers.
"""

from __future__ import annotations

import logging

from nasfs.client import DaemonError, DaemonGone, DaemonNotRunning, codes

log = logging.getLogger(__name__)

# What to do, by the protocol's error code (docs/control-protocol.md).
ADVICE: dict[str, str] = {
    codes.JOB_BUSY: "Wait for the running job to finish (the Dashboard shows its progress), "
                "then try again.",
    codes.NOT_MOUNTED: "Mount the array first, then try again.",
    codes.REBUILD: "Check the disk number and that the new directory is empty, then try again.",
    codes.REBUILD_ARGUMENT: "Check the disk number and that the new directory is empty, then "
                        "try again.",
    codes.ASSEMBLY: "Check that every disk is connected, then restart the array.",
    codes.ARRAY_BUSY: "Another nasfs command is using the array; wait a moment and try again.",
    codes.SHUTTING_DOWN: "The array is stopping. Wait until it has stopped, then start it again.",
    codes.PERMISSION_DENIED: "The console must run as root (the systemd unit does that).",
    codes.ENOSPC: "The array or a disk is full. Delete files or empty the trash, then try "
                  "again.",
    codes.BAD_PARAMS: "Check what you typed and try again.",
    codes.UNKNOWN_METHOD: "This version of the nasfs daemon cannot do that yet.",
    # The daemon's message states the rule that was broken (nasfs.policy.names); a second,
    # general rule here contradicted it for share names.
    codes.INVALID_NAME: "Change the name and try again.",
    codes.INVALID_VALUE: "Check the value and try again.",
    codes.ALREADY_EXISTS: "Choose another name or number.",
    codes.NOT_FOUND: "It may have just been removed; the list is refreshed.",
    codes.GROUP_IN_USE: "Remove it from the shares that name it first.",
    codes.POLICY_UNAVAILABLE: "The service is starting or stopping; try again in a moment.",
    codes.SCRUB_CANCELLED: "Nothing is lost: press C on the Disks screen to check again; "
                       "`nasfs scrub --resume` goes on from where it stopped.",
    codes.NO_JOB: "The check had already finished.",
    codes.MAIL: "Change the mail settings (mail.host, mail.port, mail.user...) and send a test "
            "mail again.",
    codes.MAIL_NOT_CONFIGURED: "Fill in the mail settings below, then send a test mail again.",
    codes.INTERNAL: "This is a fault in nasfs, not something you did. The daemon's log has the "
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
        if error.code == codes.INTERNAL:
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
