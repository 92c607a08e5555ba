"""smbd lives exactly as long as the mount it serves: a daemon stopping with SMB on (and a
client connected, a file open) stops smbd first and unmounts cleanly; a smbd left behind by
a killed daemon is stopped when the next daemon starts SMB again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from smbprotocol.tree import TreeConnect

from tests.os_accounts_util import preserved_extrausers
from tests.smb_util import HOST, SmbNas

ALICE = 46141


def _serving(tmp_path: Path) -> SmbNas:
    nas = SmbNas(tmp_path)
    nas.start()
    nas.configure_smb()
    nas.admin.user_add("alice", ALICE, password="alice-pw")
    nas.admin.share_create("docs")
    nas.admin.share_acl("docs", "everyone", None, "rw")
    nas.admin.settings_set("smb.enabled", True)
    return nas


def test_stopping_the_daemon_stops_smbd_before_the_unmount(tmp_path: Path) -> None:
    with preserved_extrausers():
        nas = _serving(tmp_path)
        try:
            assert nas.leftovers()
            with nas.session("alice", "alice-pw") as session:
                tree = TreeConnect(session, rf"\\{HOST}\docs")
                tree.connect()
                nas.stop()  # asserts the daemon exited with status 0
                assert not os.path.ismount(nas.mnt)
                assert nas.leftovers() == []
        finally:
            nas.cleanup()


def test_a_smbd_left_by_a_killed_daemon_is_replaced(tmp_path: Path) -> None:
    with preserved_extrausers():
        nas = _serving(tmp_path)
        try:
            old = nas.status()["pid"]
            assert nas.client is not None and nas.proc is not None
            nas.client.close()
            nas.client = None
            nas.proc.send_signal(signal.SIGKILL)
            nas.proc.wait()
            nas.proc = None
            assert old in nas.leftovers()  # smbd outlived its daemon
            nas.start()  # the next daemon: mounts again, then starts SMB again
            new = nas.status()["pid"]
            assert new != old and nas.leftovers().count(new) == 1
            assert old not in nas.leftovers()
            assert nas.smbclient("docs", "alice", "alice-pw", "ls").returncode == 0
            nas.admin.settings_set("smb.enabled", False)
            assert nas.leftovers() == []
            nas.stop()
            assert nas.leftovers() == []
        finally:
            nas.cleanup()
