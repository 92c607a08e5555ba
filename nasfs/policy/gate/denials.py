"""The errors the gate answers a refused request with.

Only `Judge.deny` (judge.py) makes them, from the class and a message, after it has written
the denial row: a namespace cannot refuse without logging (docs/policy.md promises that every
denial the gate makes is in the access log; tests/test_policy_gate_denials.py checks that
no other module of the gate constructs one).
"""

from __future__ import annotations

import errno

from nasfs.errors import NasfsError
from nasfs.fs import errors
from nasfs.wire import codes


class AccessDenied(NasfsError):
    wire_code = codes.ACCESS_DENIED
    errno = errno.EACCES


class CrossShare(NasfsError):
    wire_code = codes.CROSS_SHARE

    errno = errno.EXDEV


class ShareBusy(NasfsError):
    wire_code = codes.SHARE_BUSY
    errno = errno.EBUSY


class Shadowed(errors.NotFound):
    """A name the caller may not learn exists: answered exactly as a missing one."""

    wire_code = codes.SHADOWED


class SnapshotReadOnly(NasfsError):
    """A write-type request inside a snapshot (EACCES, never EROFS: see docs/policy.md)."""

    wire_code = codes.SNAPSHOT_READ_ONLY

    errno = errno.EACCES


DENIALS: tuple[type[NasfsError], ...] = (AccessDenied, CrossShare, ShareBusy, Shadowed,
                                         SnapshotReadOnly)


class AclsNotSupported(NasfsError):
    """Not a denial: POSIX ACL xattrs are not supported on this mount at all."""

    wire_code = codes.ACLS_NOT_SUPPORTED

    errno = errno.EOPNOTSUPP
