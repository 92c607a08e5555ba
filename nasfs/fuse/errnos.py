"""The one mapping from the engine's exceptions to the errno the kernel is answered with.

Lower layers raise domain exceptions and never think about the kernel. Two kinds reach here:

- answers about the namespace and about who may do what (nasfs.fs.errors, the policy
  gate's denials, snapshot folders): their `errno` is what a native filesystem would say
  (ENOENT for a missing name, EACCES for a denied share...), so it is passed on;
- failures of the storage underneath (the store, the metadata databases): whatever the store
  means internally (to it, a chunk id without a catalog row is "not found"), to a program the
  file is there and its bytes cannot be had, which is EIO. ENOENT from read(2) would tell it
  the file vanished. The one exception is a full array: ENOSPC, so programs say "disk full".

Anything else is a bug and is EIO too (`internal`). Storage failures and bugs are logged
here, once per request, so that every EIO a program sees is in the daemon's log.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from nasfs.db import MetadataLostError, WriteFailed
from nasfs.errors import NasfsError
from nasfs.store.errors import StoreError, StoreFullError

log = logging.getLogger(__name__)


def errno_for(exc: BaseException) -> int:
    """The errno for `exc` (see the module docstring); logs storage failures and bugs."""
    if isinstance(exc, StoreFullError):
        return errno.ENOSPC
    if isinstance(exc, WriteFailed):
        log.error("metadata could not be written: %s", exc)
        return exc.errno
    if isinstance(exc, StoreError | MetadataLostError | sqlite3.Error):
        log.error("storage failure answered with EIO: %s", exc)
        return errno.EIO
    if isinstance(exc, NasfsError):
        return exc.errno
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return errno.ENOSPC
    log.error("internal error while serving a request, answered with EIO", exc_info=exc)
    return errno.EIO
