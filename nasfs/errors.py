"""Exceptions that carry a message meant for the person at the keyboard.

Lower layers raise these (or subclasses); the CLI prints `str(exc)` on one line and exits
non-zero, the daemon sends it over the control socket, and the FUSE adapter maps the
`errno` attribute to the reply.
"""

import errno as _errno


class NasfsError(Exception):
    """Base of all expected, explainable failures. `str()` is a complete sentence."""

    errno: int = _errno.EIO
    exit_code: int = 1


class UsageError(NasfsError):
    """Bad command-line arguments or options."""

    errno = _errno.EINVAL
    exit_code = 2
