"""The gate on a real store, filesystem and policy database, in-process: what the gate tests
call as the FUSE adapter does (lookups, listings, creates, `forget`), without a mount.

`open_gate` builds the store on three member directories (single parity) in the test's
directory, the policy database beside them and the filesystem on the store, lets the test
add its users and shares through the admin API (`prepare`), makes the share folders and
yields the gate; everything is closed afterwards, also when the test failed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from nasfs.fs import Caller, Filesystem
from nasfs.policy.gate import Gate
from nasfs.policy.service import PolicyService
from nasfs.store import Store
from nasfs.trash import TRASH_MIGRATIONS, Trash
from tests.policy_util import ROOT, open_policy

ALICE = Caller(2001, 2001, pid=os.getpid())


def add_user(policy: PolicyService, name: str, uid: int) -> None:
    policy.admin.call("user.add", {"name": name, "uid": uid}, ROOT)


def share_for_everyone(policy: PolicyService, name: str, **options: object) -> None:
    """The share `name` (with share.create's `options`) that everyone may read and write."""
    policy.admin.call("share.create", {"name": name, **options}, ROOT)
    policy.admin.call("share.acl", {"name": name, "kind": "everyone", "access": "rw"}, ROOT)


@asynccontextmanager
async def open_gate(base: Path, prepare: Callable[[PolicyService], None], *,
                    trash: bool = False) -> AsyncIterator[Gate]:
    """See the module docstring. With `trash` the filesystem has the trash's tables and the
    gate a `Trash` (unlinks in shares go to `#trash`)."""
    members = [base / f"m{i}" for i in range(3)]
    for m in members:
        m.mkdir()
    Store.create(members, 1)
    store = Store.open(members)
    policy = open_policy(base / "policy")
    fs = Filesystem.open(store, extra_migrations=(TRASH_MIGRATIONS,) if trash else ())
    try:
        prepare(policy)
        gate = Gate(fs, policy, Trash(fs, policy.clock) if trash else None)
        gate.ensure_all_share_folders()
        yield gate
    finally:
        await fs.close()
        store.close()
        policy.close()
