"""Every refusal the gate makes is in the access log, including those that used to go
unlogged (getattr of an inode the caller may no longer see, a lookup in `#trash` without
read access, a hard link to a trash item, getattr inside a snapshot after access was taken
away), and a truncating open is judged as a write whatever its access mode.

In-process on a real store, filesystem, trash and policy databases with the access-log
writer running, calling the gate as the FUSE adapter does; a kernel mount cannot make most
of these requests on demand (it only names inodes it holds, and the cases need an inode
held from before a policy change).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from nasfs.errors import NasfsError
from nasfs.fs import ROOT_INODE, Filesystem
from nasfs.policy.auditstore import LogFilter
from nasfs.policy.gate import Gate
from nasfs.policy.gate.denials import DENIALS
from nasfs.policy.service import PolicyService
from nasfs.policy.snapshot_state import export
from tests.gate_util import ALICE, add_user, open_gate
from tests.policy_util import ROOT

REPO = Path(__file__).parent.parent


@dataclass
class Nas:
    gate: Gate
    policy: PolicyService
    fs: Filesystem

    def acl(self, share: str, access: str) -> None:
        self.policy.admin.call("share.acl", {"name": share, "kind": "user", "principal": "alice",
                                             "access": access}, ROOT)

    async def rows(self) -> list[tuple[Any, ...]]:
        """Alice's access-log rows: (operation, share, path, result)."""
        assert self.policy.audit is not None
        await self.policy.audit.wait_idle()
        return [(r.operation, r.share, r.path, r.result)
                for r in self.policy.audit_store.iterate("access", LogFilter(user="alice"))]

    async def folder(self, share: bytes) -> int:
        a = await self.gate.lookup(ROOT_INODE, share, ALICE)
        assert a is not None
        return a.ino

    async def file(self, parent: int, name: bytes, data: bytes) -> int:
        fh, a = await self.gate.create(parent, name, 0o666, os.O_WRONLY, ALICE)
        await self.gate.write(fh, 0, data)
        await self.gate.release(fh)
        return a.ino


def _alice_and_docs(policy: PolicyService) -> None:
    add_user(policy, "alice", 2001)
    policy.admin.call("share.create", {"name": "docs"}, ROOT)


@pytest.fixture
async def nas(tmp_path: Path) -> AsyncIterator[Nas]:
    async with open_gate(tmp_path, _alice_and_docs, trash=True) as gate:
        assert gate.policy is not None
        nas = Nas(gate, gate.policy, gate.fs)
        nas.acl("docs", "rw")
        async with trio.open_nursery() as nursery:
            await nursery.start(gate.policy.run)
            yield nas
            nursery.cancel_scope.cancel()


async def refused(code: int, request: Any) -> None:
    with pytest.raises(NasfsError) as info:
        await request
    assert info.value.errno == code, info.value


async def test_getattr_of_a_held_inode_after_access_went_is_a_logged_denial(nas: Nas) -> None:
    docs = await nas.folder(b"docs")
    f = await nas.file(docs, b"f", b"x")
    nas.acl("docs", "none")
    await refused(errno.EACCES, nas.gate.getattr(f, ALICE))
    nas.policy.admin.call("share.edit", {"name": "docs", "hidden": True}, ROOT)
    await refused(errno.ENOENT, nas.gate.getattr(f, ALICE))
    assert (await nas.rows())[-2:] == [("getattr", "docs", b"/f", "EACCES"),
                                       ("getattr", "docs", b"/f", "ENOENT")]


async def test_a_lookup_in_trash_without_read_access_is_a_logged_denial(nas: Nas) -> None:
    docs = await nas.folder(b"docs")
    trash = await nas.gate.lookup(docs, b"#trash", ALICE)
    assert trash is not None
    nas.acl("docs", "none")
    await refused(errno.EACCES, nas.gate.lookup(trash.ino, b"f #1", ALICE))
    assert (await nas.rows())[-1] == ("lookup", "docs", b"/#trash/f #1", "EACCES")


async def test_linking_a_trash_item_is_a_logged_denial(nas: Nas) -> None:
    docs = await nas.folder(b"docs")
    await nas.file(docs, b"gone", b"kept by the trash")
    await nas.gate.unlink(docs, b"gone", ALICE)
    trash = await nas.gate.lookup(docs, b"#trash", ALICE)
    assert trash is not None
    (item,) = nas.gate.trash.items() if nas.gate.trash else []
    held = await nas.gate.lookup(trash.ino, b"gone #%d" % item.id, ALICE)
    assert held is not None
    await refused(errno.EACCES, nas.gate.link(held.ino, docs, b"again", ALICE))
    assert (await nas.rows())[-1] == ("link", "docs", b"/again", "EACCES")
    assert await nas.gate.lookup(docs, b"again", ALICE) is None


async def test_getattr_inside_a_snapshot_after_access_went_is_a_logged_denial(
        nas: Nas) -> None:
    docs = await nas.folder(b"docs")
    await nas.file(docs, b"f", b"then")
    await nas.fs.snapshots.create("s", export(nas.policy.snapshot))
    folder = await nas.gate.lookup(docs, b"#snapshot", ALICE)
    assert folder is not None
    top = await nas.gate.lookup(folder.ino, b"s", ALICE)
    assert top is not None
    f = await nas.gate.lookup(top.ino, b"f", ALICE)
    assert f is not None
    nas.acl("docs", "none")
    await refused(errno.EACCES, nas.gate.getattr(f.ino, ALICE))
    assert (await nas.rows())[-1] == ("getattr", "docs", b"/#snapshot/s/f", "EACCES")


@pytest.mark.parametrize("flags", [os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_TRUNC])
async def test_a_truncating_open_needs_write_access(nas: Nas, flags: int) -> None:
    docs = await nas.folder(b"docs")
    f = await nas.file(docs, b"f", b"keep me")
    nas.acl("docs", "ro")
    await refused(errno.EACCES, nas.gate.open(f, flags, ALICE))
    assert (await nas.rows())[-1] == ("open-write", "docs", b"/f", "EACCES")
    assert nas.fs.getattr(f).size == len(b"keep me")
    fh = await nas.gate.open(f, os.O_RDONLY, ALICE)  # plain reading is still allowed
    assert await nas.gate.read(fh, 0, 100) == b"keep me"
    await nas.gate.release(fh)


async def test_a_truncating_open_in_a_snapshot_is_refused(nas: Nas) -> None:
    docs = await nas.folder(b"docs")
    await nas.file(docs, b"f", b"then")
    await nas.fs.snapshots.create("s", export(nas.policy.snapshot))
    folder = await nas.gate.lookup(docs, b"#snapshot", ALICE)
    assert folder is not None
    top = await nas.gate.lookup(folder.ino, b"s", ALICE)
    assert top is not None
    f = await nas.gate.lookup(top.ino, b"f", ALICE)
    assert f is not None
    await refused(errno.EACCES, nas.gate.open(f.ino, os.O_RDONLY | os.O_TRUNC, ALICE))
    assert (await nas.rows())[-1] == ("open-write", "docs", b"/#snapshot/s/f", "EACCES")
    fh = await nas.gate.open(f.ino, os.O_RDONLY, ALICE)  # fallocate on it is a write too
    await refused(errno.EACCES, nas.gate.fallocate(fh, 0, 0, 10))
    assert (await nas.rows())[-1] == ("fallocate", "docs", b"/#snapshot/s/f", "EACCES")
    await nas.gate.release(fh)


def test_only_the_judge_makes_denials() -> None:
    # A namespace that raised a denial itself would skip the access-log row: the judge's
    # `deny` builds every one from its class, after logging.
    names = "|".join(cls.__name__ for cls in DENIALS)
    made = re.compile(rf"(?<!class )\b({names})\(")
    gate = REPO / "nasfs" / "policy" / "gate"
    offenders = [f"{p.name}:{n}" for p in sorted(gate.glob("*.py")) if p.name != "judge.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if made.search(line)]
    assert offenders == []
    assert "error(message)" in (gate / "judge.py").read_text()
