"""The top-level folder of every share, made when the share is (or at mount, for shares made
while the array was not mounted)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nasfs.fs import ROOT_INODE, Caller, Filesystem
from nasfs.policy.records import ShareRecord

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService

log = logging.getLogger(__name__)


def ensure_share_folder(fs: Filesystem, policy: PolicyService | None,
                        share: ShareRecord) -> None:
    """Create the top-level folder of `share` if it has none (mode `dir_mode`, default
    0777: the ACL gates, then ordinary permissions apply inside; group `force_group`)."""
    name = share.name.encode()
    if fs.peek(ROOT_INODE, name) is not None:
        return
    gid = 0
    if share.force_group is not None and policy is not None:
        group = policy.snapshot.groups.get(share.force_group)
        gid = group.gid if group is not None else 0
    mode = share.dir_mode if share.dir_mode is not None else 0o777
    a = fs.mkdir(ROOT_INODE, name, mode, Caller(0, gid, 0, 0))
    fs.forget(a.ino, 1)
    log.info("created the folder of share %s", share.name)
