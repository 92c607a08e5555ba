"""Inside a share, SMB adds nothing: deletes and overwrites made over SMB land in the
share's trash (there is no vfs_recycle), `#trash` and `#snapshot` read as on the mount and
refuse writes, and a snapshot shows the content of its moment — all through a real smbd
over a real mount."""

from __future__ import annotations

import datetime
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateContextRequest,
    SMB2CreateTimewarpToken,
)
from smbprotocol.ioctl import (
    CtlCode,
    IOCTLFlags,
    SMB2IOCTLRequest,
    SMB2IOCTLResponse,
    SMB2SrvSnapshotArray,
)
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    ShareAccess,
)
from smbprotocol.tree import TreeConnect

from nasfs.client.snapshots import SnapshotClient
from nasfs.client.trash import TrashClient
from tests.smb_util import HOST, SmbNas, smb_nas

ALICE, BOB = 46121, 46122
USERS = {"alice": (ALICE, "alice-pw"), "bob": (BOB, "bob-pw")}


@pytest.fixture(scope="module")
def nas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbNas]:
    with smb_nas(tmp_path_factory.mktemp("smb"), USERS) as nas:
        nas.share("docs", ("user", "alice", "rw"), ("user", "bob", "ro"))
        yield nas


def trash(nas: SmbNas) -> TrashClient:
    assert nas.client is not None
    return TrashClient(nas.client)


def put(nas: SmbNas, name: str, text: str, user: str = "alice") -> None:
    local = nas.outer / "upload"
    local.write_text(text)
    done = nas.smbclient("docs", user, USERS[user][1], f"put {local} {name}")
    assert done.returncode == 0, done.stdout + done.stderr


def get(nas: SmbNas, remote: str, user: str = "alice") -> str | None:
    local = nas.outer / "download"
    local.unlink(missing_ok=True)
    done = nas.smbclient("docs", user, USERS[user][1], f'get "{remote}" {local}')
    return local.read_text() if done.returncode == 0 else None


def test_a_delete_over_smb_lands_in_the_trash(nas: SmbNas) -> None:
    put(nas, "plan.txt", "version 1\n")
    done = nas.smbclient("docs", "alice", "alice-pw", "del plan.txt")
    assert done.returncode == 0, done.stdout
    assert not (nas.mnt / "docs" / "plan.txt").exists()
    items = [i for i in trash(nas).items() if i.path == "/plan.txt"]
    assert [(i.reason, i.user, i.size) for i in items] == [("unlink", "alice", 10)]
    # The same item, listed in #trash over SMB as on the mount, and read as on the mount.
    name = f"plan.txt #{items[0].id}"
    assert (nas.mnt / "docs" / "#trash" / name).read_text() == "version 1\n"
    listing = nas.smbclient("docs", "alice", "alice-pw", 'ls "#trash/*"').stdout
    assert name in listing
    assert get(nas, f"#trash/{name}") == "version 1\n"
    assert name not in nas.smbclient("docs", "bob", "bob-pw", 'ls "#trash/*"').stdout
    assert get(nas, f"#trash/{name}", user="bob") is None  # not bob's item: not there
    restored = trash(nas).restore(items[0].id)
    assert (restored.share, restored.path) == ("docs", "/plan.txt")
    # The kernel held a negative entry for the name (the `exists()` above): the restore
    # makes it forget that before it answers, so the very next look finds the file.
    back = nas.mnt / "docs" / "plan.txt"
    assert back.read_text() == "version 1\n"
    assert get(nas, "plan.txt") == "version 1\n"


def test_a_restore_is_seen_at_once_over_smb_and_on_the_mount(nas: SmbNas) -> None:
    put(nas, "quick.txt", "quick\n")
    assert nas.smbclient("docs", "alice", "alice-pw", "del quick.txt").returncode == 0
    path = nas.mnt / "docs" / "quick.txt"
    for _ in range(3):  # the kernel now caches the name as absent (for up to a minute)
        assert not path.exists()
    item = next(i for i in trash(nas).items() if i.path == "/quick.txt")
    trash(nas).restore(item.id)
    assert os.stat(path).st_size == 6
    assert get(nas, "quick.txt") == "quick\n"


def test_an_overwrite_over_smb_keeps_the_old_content_in_the_trash(nas: SmbNas) -> None:
    put(nas, "memo.txt", "old words\n")
    before = {i.id for i in trash(nas).items()}
    put(nas, "memo.txt", "new words\n")
    assert (nas.mnt / "docs" / "memo.txt").read_text() == "new words\n"
    kept = [i for i in trash(nas).items() if i.id not in before and i.path == "/memo.txt"]
    assert kept and kept[0].reason in ("replaced", "truncated")
    assert (nas.mnt / "docs" / "#trash" / f"memo.txt #{kept[0].id}").read_text() == "old words\n"


def test_trash_and_snapshot_folders_refuse_writes_over_smb(nas: SmbNas) -> None:
    local = nas.outer / "x"
    local.write_text("x")
    for folder in ("#trash", "#snapshot"):
        done = nas.smbclient("docs", "alice", "alice-pw", f'put {local} "{folder}/x"')
        assert "NT_STATUS_ACCESS_DENIED" in done.stdout, (folder, done.stdout)
        done = nas.smbclient("docs", "alice", "alice-pw", f'rmdir "{folder}"')
        assert "NT_STATUS_" in done.stdout and (nas.mnt / "docs" / folder).is_dir()


def test_a_snapshot_reads_over_smb_as_on_the_mount(nas: SmbNas) -> None:
    put(nas, "report.txt", "monday\n")
    assert nas.client is not None
    snap = SnapshotClient(nas.client).create("monday")
    put(nas, "report.txt", "tuesday\n")
    then = Path("#snapshot") / snap.name / "report.txt"
    assert (nas.mnt / "docs" / then).read_text() == "monday\n"
    assert get(nas, str(then)) == "monday\n"
    assert get(nas, str(then), user="bob") == "monday\n"  # read access: the past too
    assert get(nas, "report.txt") == "tuesday\n"


def test_read_only_users_cannot_delete_over_smb(nas: SmbNas) -> None:
    put(nas, "keep.txt", "keep\n")
    done = nas.smbclient("docs", "bob", "bob-pw", "del keep.txt")
    assert "NT_STATUS_ACCESS_DENIED" in done.stdout, done.stdout
    assert (nas.mnt / "docs" / "keep.txt").read_text() == "keep\n"


def _open(tree: TreeConnect, name: str, *, directory: bool = False,
          at: datetime.datetime | None = None) -> Open:
    handle = Open(tree, name)
    contexts = None
    if at is not None:
        token = SMB2CreateTimewarpToken()
        token["timestamp"] = at
        context = SMB2CreateContextRequest()
        context["buffer_name"] = CreateContextName.SMB2_CREATE_TIMEWARP_TOKEN
        context["buffer_data"] = token
        contexts = [context]
    handle.create(ImpersonationLevel.Impersonation,
                  FilePipePrinterAccessMask.FILE_READ_DATA
                  | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
                  FileAttributes.FILE_ATTRIBUTE_DIRECTORY if directory
                  else FileAttributes.FILE_ATTRIBUTE_NORMAL,
                  ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
                  CreateDisposition.FILE_OPEN,
                  CreateOptions.FILE_DIRECTORY_FILE if directory
                  else CreateOptions.FILE_NON_DIRECTORY_FILE, contexts)
    return handle


def enumerate_snapshots(tree: TreeConnect, handle: Open) -> list[str]:
    """FSCTL_SRV_ENUMERATE_SNAPSHOTS on an open handle: the @GMT names Windows lists."""
    request = SMB2IOCTLRequest()
    request["ctl_code"] = CtlCode.FSCTL_SRV_ENUMERATE_SNAPSHOTS
    request["file_id"] = handle.file_id
    request["max_output_response"] = 65536
    request["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    session = tree.session
    sent = session.connection.send(request, sid=session.session_id, tid=tree.tree_connect_id)
    response = SMB2IOCTLResponse()
    response.unpack(session.connection.receive(sent)["data"].get_value())
    array = SMB2SrvSnapshotArray()
    array.unpack(response["buffer"].get_value())
    text = array["snapshots"].get_value().decode("utf-16-le")
    return [name for name in text.split("\0") if name]


def test_snapshots_are_previous_versions(nas: SmbNas) -> None:
    put(nas, "budget.txt", "first draft\n")
    assert nas.client is not None
    snapshots = SnapshotClient(nas.client)
    snap = snapshots.create()  # default name: @GMT-YYYY.MM.DD-HH.MM.SS, UTC
    put(nas, "budget.txt", "second draft\n")
    time.sleep(1.1)  # another second: the two snapshots must have different @GMT times
    own = snapshots.create("before-holidays")  # a name of one's own: listed by its time
    put(nas, "budget.txt", "final\n")
    moment = datetime.datetime.strptime(snap.name, "@GMT-%Y.%m.%d-%H.%M.%S").replace(
        tzinfo=datetime.UTC)
    own_moment = datetime.datetime.fromtimestamp(own.created_ns // 1_000_000_000,
                                                 tz=datetime.UTC)
    own_gmt = own_moment.strftime("@GMT-%Y.%m.%d-%H.%M.%S")
    with nas.session("alice", "alice-pw") as session:
        tree = TreeConnect(session, rf"\\{HOST}\docs")
        tree.connect()
        folder = _open(tree, "", directory=True)
        names = enumerate_snapshots(tree, folder)
        folder.close()
        assert snap.name in names and own_gmt in names
        assert all(n.startswith("@GMT-") for n in names)
        # Opened at that moment (a timewarp create context), the file reads as it was.
        old = _open(tree, "budget.txt", at=moment)
        try:
            assert bytes(old.read(0, 12)) == b"first draft\n"
        finally:
            old.close()
        mine = _open(tree, "budget.txt", at=own_moment)
        try:
            assert bytes(mine.read(0, 13)) == b"second draft\n"
        finally:
            mine.close()
        now = _open(tree, "budget.txt")
        try:
            assert bytes(now.read(0, 6)) == b"final\n"
        finally:
            now.close()
        # A deleted snapshot is no Previous Version any more.
        snapshots.delete(own.id)
        folder = _open(tree, "", directory=True)
        names = enumerate_snapshots(tree, folder)
        folder.close()
        assert snap.name in names and own_gmt not in names
        tree.disconnect()


REAL_NAME = "glusterfs.get_real_filename:"  # what Samba's glusterfs_fuse module asks


def test_names_in_another_case_reach_the_existing_file(nas: SmbNas) -> None:
    """smbd asks the folder for a name in another case (an extended attribute the daemon
    answers from one query) instead of listing it whole: a put to REPORT.TXT over an existing
    report.txt replaces it, and a get of Report.Txt reads it, as on Windows."""
    put(nas, "report.txt", "first\n")
    put(nas, "REPORT.TXT", "second\n")
    docs = nas.mnt / "docs"
    assert [n for n in os.listdir(docs) if n.lower() == "report.txt"] == ["report.txt"]
    assert (docs / "report.txt").read_text() == "second\n"
    assert get(nas, "Report.Txt") == "second\n"
    assert os.getxattr(docs, REAL_NAME + "REPORT.txt") == b"report.txt"
    assert os.getxattr(docs, REAL_NAME + "report.txt") == b"report.txt"
    assert os.getxattr(docs, REAL_NAME + "#TRASH") == b"#trash"
    with pytest.raises(OSError) as missing:
        os.getxattr(docs, REAL_NAME + "no-such.txt")
    assert missing.value.errno == errno.ENOENT
    # Where the daemon keeps no quick answer, smbd is told to list the folder itself.
    for folder in (nas.mnt, docs / "#trash", docs / "#snapshot"):
        with pytest.raises(OSError) as listed:
            os.getxattr(folder, REAL_NAME + "docs")
        assert listed.value.errno == errno.EOPNOTSUPP, folder
    # (A snapshot named by its moment would read as a Previous Versions path: @GMT-….)
    snap = SnapshotClient(nas.client).create("case-probe")  # type: ignore[arg-type]
    try:
        old = nas.smbclient("docs", "alice", "alice-pw",
                            f'get "#snapshot/{snap.name}/RePoRt.TxT" {nas.outer / "old"}')
        assert old.returncode == 0, old.stdout + old.stderr
        assert (nas.outer / "old").read_text() == "second\n"
    finally:
        SnapshotClient(nas.client).delete(snap.id)  # type: ignore[arg-type]


def _versions(nas: SmbNas, user: str, share: str) -> list[str]:
    with nas.session(user, USERS[user][1]) as session:
        tree = TreeConnect(session, rf"\\{HOST}\{share}")
        tree.connect()
        folder = _open(tree, "", directory=True)
        try:
            return enumerate_snapshots(tree, folder)
        finally:
            folder.close()
            tree.disconnect()


def test_previous_versions_list_only_the_snapshots_the_user_may_open(nas: SmbNas) -> None:
    """The now-and-then rule of #snapshot decides the list too: bob, given the share after
    the first snapshot, finds only the second among its Previous Versions; alice both."""
    assert nas.client is not None
    snapshots = SnapshotClient(nas.client)
    nas.admin.share_create("projects")
    nas.admin.share_acl("projects", "user", "alice", "rw")
    (nas.mnt / "projects" / "plan.txt").write_text("before bob\n")
    before = snapshots.create("before-bob")
    nas.admin.share_acl("projects", "user", "bob", "ro")
    time.sleep(1.1)  # another second: the two snapshots must have different @GMT times
    later = snapshots.create("with-bob")
    try:
        gmt = {s.name: datetime.datetime.fromtimestamp(
            s.created_ns // 1_000_000_000, tz=datetime.UTC).strftime("@GMT-%Y.%m.%d-%H.%M.%S")
            for s in (before, later)}
        alice = _versions(nas, "alice", "projects")
        assert gmt["before-bob"] in alice and gmt["with-bob"] in alice
        bob = _versions(nas, "bob", "projects")
        assert gmt["with-bob"] in bob and gmt["before-bob"] not in bob
        # In docs, which bob could read then, the same moment is listed.
        assert gmt["before-bob"] in _versions(nas, "bob", "docs")
        # Taking bob's access away and giving it back changes nothing for the old moment.
        nas.admin.share_acl("projects", "user", "bob", "none")
        nas.admin.share_acl("projects", "user", "bob", "ro")
        assert gmt["before-bob"] not in _versions(nas, "bob", "projects")
    finally:
        snapshots.delete(before.id)
        snapshots.delete(later.id)


def test_a_time_machine_share_keeps_streams_in_the_mount(nas: SmbNas) -> None:
    nas.admin.share_create("backups", time_machine_gib=500)
    nas.admin.share_acl("backups", "user", "alice", "rw")
    assert nas.admin.share_show("backups").time_machine_gib == 500
    section = nas.conf.read_text().split("[backups]")[1]
    assert "fruit:time machine = yes" in section and "max size = 500G" in section
    with nas.session("alice", "alice-pw") as session:
        tree = TreeConnect(session, rf"\\{HOST}\backups")
        tree.connect()
        f = Open(tree, "disk.sparsebundle")
        f.create(ImpersonationLevel.Impersonation, 0x12019F,
                 FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
                 CreateDisposition.FILE_OVERWRITE_IF, CreateOptions.FILE_NON_DIRECTORY_FILE)
        f.write(b"band data", 0)
        f.close()
        stream = Open(tree, "disk.sparsebundle:com.apple.note")  # a named stream
        stream.create(ImpersonationLevel.Impersonation, 0x12019F,
                      FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
                      CreateDisposition.FILE_OVERWRITE_IF,
                      CreateOptions.FILE_NON_DIRECTORY_FILE)
        stream.write(b"stream data", 0)
        assert bytes(stream.read(0, 11)) == b"stream data"
        stream.close()
        tree.disconnect()
    on_mount = nas.mnt / "backups" / "disk.sparsebundle"
    assert on_mount.read_bytes() == b"band data"
    names = os.listxattr(on_mount)
    assert any("com.apple.note" in n for n in names), names
    nas.admin.share_edit("backups", time_machine_gib=None)
    assert "fruit" not in nas.conf.read_text().split("[backups]")[1]


def test_names_are_found_in_any_case_unless_the_share_wants_the_exact_case(nas: SmbNas) -> None:
    put(nas, "Report.txt", "any case\n")
    assert get(nas, "REPORT.TXT") == "any case\n"  # the default: as Windows expects
    nas.admin.share_create("scans", case_sensitive=True)
    nas.admin.share_acl("scans", "user", "alice", "rw")
    assert "case sensitive = yes" in nas.conf.read_text().split("[scans]")[1]
    assert "case sensitive" not in nas.conf.read_text().split("[docs]")[1].split("[")[0]
    local = nas.outer / "upload"
    local.write_text("exact\n")
    done = nas.smbclient("scans", "alice", "alice-pw", f"put {local} Scan.txt")
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = nas.smbclient("scans", "alice", "alice-pw", f"get SCAN.TXT {nas.outer / 'x'}")
    assert "NT_STATUS_OBJECT_NAME_NOT_FOUND" in wrong.stdout, wrong.stdout
    right = nas.smbclient("scans", "alice", "alice-pw", f"get Scan.txt {nas.outer / 'x'}")
    assert right.returncode == 0 and (nas.outer / "x").read_text() == "exact\n"
