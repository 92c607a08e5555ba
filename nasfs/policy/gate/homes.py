"""Home folders in a `homes` share: `homes/<user>` (0700, owned by the user) is made on the
user's first lookup or listing of the share's folder."""

from __future__ import annotations

import logging

from nasfs.fs import Caller, Filesystem
from nasfs.policy.acl import Principal

log = logging.getLogger(__name__)


def ensure_home(fs: Filesystem, homes_root: int, who: Principal) -> None:
    assert who.name is not None
    name = who.name.encode()
    if fs.peek(homes_root, name) is None:
        a = fs.mkdir(homes_root, name, 0o700, Caller(who.uid, who.gid))
        fs.forget(a.ino, 1)  # mkdir counts a kernel reference; the kernel has none
        log.info("created the home folder of %s", who.name)
