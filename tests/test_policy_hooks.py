"""The policy layer's calls out to the SMB export (nasfs.policy.hooks) are connected by each
opener that changes passwords or serves requests: the daemon (checked on a real daemon; a
password change reaching Samba through it and the log's client column are checked end to
end in test_smb_server.py) and the offline CLI, whose password changes reach Samba's passdb
with no daemon running (checked here with a real passdb)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.policy.hooks import NO_HOOKS
from nasfs.smb import passdb
from nasfs.smb.config import Site
from nasfs.smb.hooks import samba_hooks
from tests.smb_util import EVERYONE_RW, SmbNas, smb_nas
from tests.test_daemon_service import Running, config, members, run_dir, running  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
BOB, DAVE = 46112, 46114


def test_samba_hooks_are_the_smb_exports_calls() -> None:
    hooks = samba_hooks()
    assert hooks != NO_HOOKS
    assert hooks.password_changed.__module__ == "nasfs.smb.site"
    assert hooks.client_of.__module__ == "nasfs.smb.clients"


async def test_the_daemon_opens_the_policy_with_the_samba_hooks(
        running: Running) -> None:  # noqa: F811 - fixture
    assert running.daemon.array.policy.hooks == samba_hooks()


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[SmbNas]:
    with smb_nas(tmp_path, {"bob": (BOB, "bob-pw")}) as nas:
        nas.share("docs", EVERYONE_RW)
        yield nas


def passdb_users(nas: SmbNas) -> list[str]:
    return passdb.users(Site(Path("/nonexistent"), nas.state_dir, port=nas.port))


def offline_cli(nas: SmbNas, *args: str, stdin: str | None = None) -> None:
    env = dict(os.environ, NASFS_RUN_DIR=str(nas.run_dir))
    env.pop("NASFS_SOCKET", None)
    done = subprocess.run([sys.executable, "-m", "nasfs.cli.main", *args,
                           "--array", *map(str, nas.members)], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_passwords_changed_offline_reach_samba(nas: SmbNas) -> None:
    assert passdb_users(nas) == ["bob"]
    nas.stop()  # no daemon: the CLI opens the policy databases itself
    try:
        offline_cli(nas, "user", "passwd", "bob", "--password-stdin", stdin="bob-new\n")
        offline_cli(nas, "user", "add", "dave", "--uid", str(DAVE), "--password-stdin",
                    stdin="dave-pw\n")
        assert passdb_users(nas) == ["bob", "dave"]
        offline_cli(nas, "user", "del", "dave")
        assert passdb_users(nas) == ["bob"]
    finally:
        nas.start()
    # The daemon's smbd takes bob's password as it was set offline.
    assert "NT_STATUS_LOGON_FAILURE" in nas.smbclient("docs", "bob", "bob-pw", "ls").stdout
    assert nas.smbclient("docs", "bob", "bob-new", "ls").returncode == 0
