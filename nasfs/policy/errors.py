"""Expected failures of the policy layer (each str() is one sentence naming what is wrong)."""

from __future__ import annotations

import errno as _errno

from nasfs.errors import NasfsError


class PolicyError(NasfsError):
    """Base of policy failures."""


class InvalidName(PolicyError):
    """A user, group or share name breaks the naming rules."""

    errno = _errno.EINVAL
    exit_code = 2


class InvalidValue(PolicyError):
    """A number, mode, access level or setting value is out of range."""

    errno = _errno.EINVAL
    exit_code = 2


class AlreadyExists(PolicyError):
    """A user, group or share of that name (or that uid/gid) exists already."""

    errno = _errno.EEXIST


class NotFound(PolicyError):
    """No user, group, share or setting of that name."""

    errno = _errno.ENOENT
