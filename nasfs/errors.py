"""Exceptions that carry a message meant for the person at the keyboard.

Lower layers raise these (or subclasses); the CLI prints `str(exc)` on one line and exits
non-zero, the daemon sends it over the control socket with the class's `wire_code` (one of
the constants of nasfs.wire.codes, never derived from the class name), and the FUSE
adapter maps the `errno` attribute to the reply.
"""

import errno as _errno
from typing import ClassVar

from nasfs.wire import codes


class NasfsError(Exception):
    """Base of all expected, explainable failures. `str()` is a complete sentence."""

    # The code a control answer carries for this failure; a subclass that names none
    # answers its parent's.
    wire_code: ClassVar[str] = codes.NASFS
    errno: int = _errno.EIO
    exit_code: int = 1


class UsageError(NasfsError):
    """Bad command-line arguments or options."""

    wire_code = codes.USAGE
    errno = _errno.EINVAL
    exit_code = 2


class BadParams(NasfsError):
    """A control request's parameter is missing, of the wrong type or out of range: the one
    class for every method group (the checks are in nasfs.params)."""

    wire_code = codes.BAD_PARAMS
    errno = _errno.EINVAL
    exit_code = 2
