"""`nasfs ... --help` for a person: every command says what it does, positionals are named
for what they are, and settings are shown the way they are written."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasfs.cli.main import build_parser
from nasfs.store import Store
from tests.store_util import make_members

NASFS = [sys.executable, "-m", "nasfs.cli.main"]
REPO = Path(__file__).parent.parent


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from leaves(sub, (*path, name))


LEAVES = list(leaves(build_parser()))


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_describes_itself(path: tuple[str, ...],
                                        parser: argparse.ArgumentParser) -> None:
    assert parser.description, f"nasfs {' '.join(path)} --help has no description"
    for action in parser._actions:
        if not action.option_strings:  # a positional: named in capitals for what it is
            shown = action.metavar or action.dest
            assert isinstance(shown, str) and shown == shown.upper(), (path, shown)


def test_help_names_positionals_for_what_they_are() -> None:
    env = dict(os.environ, COLUMNS="80")

    def usage(*command: str) -> str:
        done = subprocess.run([*NASFS, *command, "--help"], capture_output=True, text=True,
                              env=env, cwd=REPO, check=True)
        assert max(len(line) for line in done.stdout.splitlines()) <= 80
        return done.stdout

    assert "SHARE" in usage("share", "access")
    assert "KEY VALUE" in usage("settings", "set")
    assert "ITEM-ID" in usage("trash", "restore")
    assert "Put an item back" in usage("trash", "restore")


def test_settings_echo_values_as_written(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from nasfs.cli.main import main

    members = make_members(tmp_path, 3)
    Store.create(members, 1)
    config = tmp_path / "nasfs.toml"
    config.write_text(f'[daemon]\nrun_dir = "{tmp_path / "run"}"\n')
    where = ["--array", *map(str, members), "--config", str(config)]
    assert main(["settings", "set", "mail.enabled", "no", *where]) == 0
    assert capsys.readouterr().out == "mail.enabled = no\n"
    assert main(["settings", "set", "mail.to", "admin@example.com", *where]) == 0
    assert capsys.readouterr().out == "mail.to = admin@example.com\n"
    assert main(["settings", "get", *where]) == 0
    out = capsys.readouterr().out
    assert "mail.to = admin@example.com\n" in out and "mail.starttls = yes\n" in out
    assert "mail.host = ''\n" in out and "mail.capacity_percent = 80, 95\n" in out
    assert "[" not in out and "True" not in out and "False" not in out
    assert main(["settings", "get", "mail.to", *where]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("  who gets the mail")
