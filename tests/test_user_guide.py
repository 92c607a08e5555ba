"""docs/user-guide.md's and README.md's commands are commands nasfs has: every `nasfs ...`
line in their code blocks and every `nasfs ...` in their text parses with the real command
line (the walks themselves were run as written on a sandbox array, and the README's in a
fresh clone, when they were written)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nasfs.cli.main import build_parser

REPO = Path(__file__).parent.parent
GUIDE = REPO / "docs" / "user-guide.md"
README = REPO / "README.md"


def guide_commands(path: Path = GUIDE) -> list[str]:
    text = path.read_text()
    found: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if "nasfs " in line and not line.startswith(("su ", "install ", "systemctl")):
                found.append("nasfs " + line.split("nasfs ", 1)[1])
    for span in re.findall(r"`(nasfs [^`]*)`", text):
        if "..." not in span and "|" not in span:  # (usage summaries, not commands)
            found.append(span)
    return found


# Placeholders the text uses, and a value each stands for.
EXAMPLES = {"COMMAND": "status", "N": "3", "NAME": "alice", "SHARE": "sales", "ITEM-ID": "1",
            "KEY": "auth.lock_s", "VALUE": "600", "MOUNTPOINT": "/srv/nas",
            "FILE": "/etc/nasfs/nasfs.toml"}
COMMANDS = guide_commands()
README_COMMANDS = guide_commands(README)


def test_the_guide_has_the_first_hour() -> None:
    assert len(COMMANDS) > 30
    text = GUIDE.read_text()
    for step in ("### People: users and groups", "### Shares", "### A PC connecting",
                 "### A snapshot", "## 4. When a disk fails"):
        assert step in text


def test_the_readme_says_how_to_try_the_demo_as_alice() -> None:
    assert "nasfs settings set os.accounts yes" in README_COMMANDS
    assert "nasfs settings set os.accounts no" in README_COMMANDS


@pytest.mark.parametrize("command", COMMANDS + README_COMMANDS)
def test_guide_command_parses(command: str) -> None:
    words = [EXAMPLES.get(w, w) for w in shlex.split(command)[1:]]
    try:
        build_parser().parse_args(words)
    except SystemExit as exc:  # argparse's way of saying the command line is wrong
        if exc.code != 0:  # (--help exits 0)
            pytest.fail(f"`{command}` is not a valid nasfs command line")
