"""Expected failures of the policy layer (each str() is one sentence naming what is wrong)."""

from __future__ import annotations

import errno as _errno

from nasfs.errors import NasfsError
from nasfs.wire import codes


class PolicyError(NasfsError):
    """Base of policy failures."""

    wire_code = codes.POLICY


class InvalidName(PolicyError):
    """A user, group or share name breaks the naming rules."""

    wire_code = codes.INVALID_NAME
    errno = _errno.EINVAL
    exit_code = 2


class InvalidValue(PolicyError):
    """A number, mode, access level or setting value is out of range."""

    wire_code = codes.INVALID_VALUE
    errno = _errno.EINVAL
    exit_code = 2


class AlreadyExists(PolicyError):
    """A user, group or share of that name (or that uid/gid) exists already."""

    wire_code = codes.ALREADY_EXISTS
    errno = _errno.EEXIST


class NotFound(PolicyError):
    """No user, group, share or setting of that name."""

    wire_code = codes.NOT_FOUND
    errno = _errno.ENOENT
