"""`nasfs share access SHARE --user U` says the access and the rule that decided it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasfs.cli.main import main
from nasfs.store import Store
from tests.store_util import make_members


def test_share_access_explains_the_decision(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    members = make_members(tmp_path, 3)
    Store.create(members, 1)
    config = tmp_path / "nasfs.toml"
    config.write_text(f'[daemon]\nrun_dir = "{tmp_path / "run"}"\n')
    where = ["--array", *map(str, members), "--config", str(config)]

    def nasfs(*args: str) -> str:
        assert main([*args, *where]) == 0
        return capsys.readouterr().out.strip()

    nasfs("user", "add", "alice", "--uid", "1001", "--no-password")
    nasfs("user", "add", "bob", "--uid", "1002", "--no-password")
    nasfs("group", "add", "sales", "--gid", "2001")
    nasfs("group", "adduser", "sales", "alice")
    nasfs("share", "create", "sales")
    nasfs("share", "acl", "sales", "--group", "sales", "--access", "rw")
    nasfs("share", "acl", "sales", "--user", "alice", "--access", "ro")
    assert nasfs("share", "access", "sales", "--user", "alice") == (
        "alice on sales: rw through group sales; the user's own entry says ro; the highest "
        "grant wins")
    assert nasfs("share", "access", "sales", "--user", "bob") == (
        "bob on sales: none: no entry of the access list applies to bob")
    nasfs("share", "acl", "sales", "--everyone", "--access", "ro")
    nasfs("share", "acl", "sales", "--user", "bob", "--access", "none")
    assert nasfs("share", "access", "sales", "--user", "bob") == (
        "bob on sales: none through the user's own entry; a none entry that applies wins "
        "(everyone says ro)")
    assert nasfs("share", "access", "sales", "--user", "root").startswith(
        "root on sales: rw as an administrator (audited); the access list alone gives ro")


def test_name_rules_are_stated_once_and_agree(tmp_path: Path) -> None:
    from console.wording import ADVICE
    from nasfs.policy.errors import InvalidName
    from nasfs.policy.names import (
        ACCOUNT_NAME_RULE,
        check_account_name,
        check_share_name,
    )

    assert check_share_name("Büro 2026") == "Büro 2026"  # what the share rule promises
    with pytest.raises(InvalidName) as info:
        check_account_name("Büro")
    assert str(info.value) == f"user name 'Büro' is not valid: use {ACCOUNT_NAME_RULE}"
    # The console adds no second rule of its own that could contradict the daemon's.
    assert "letters" not in ADVICE["invalid_name"]
