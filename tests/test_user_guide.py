"""docs/user-guide.md's commands are commands nasfs has: every `nasfs ...` line in its code
blocks and every `nasfs ...` in its text parses with the real command line (the walk
itself was run as written on a sandbox array when the guide was written)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nasfs.cli.main import build_parser

GUIDE = Path(__file__).parent.parent / "docs" / "user-guide.md"


def guide_commands() -> list[str]:
    text = GUIDE.read_text()
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
EXAMPLES = {"N": "3", "NAME": "alice", "SHARE": "sales", "ITEM-ID": "1", "KEY": "auth.lock_s",
            "VALUE": "600", "MOUNTPOINT": "/srv/nas", "FILE": "/etc/nasfs/nasfs.toml"}
COMMANDS = guide_commands()


def test_the_guide_has_the_first_hour() -> None:
    assert len(COMMANDS) > 30
    text = GUIDE.read_text()
    for step in ("### People: users and groups", "### Shares", "### A PC connecting",
                 "### A snapshot", "## 4. When a disk fails"):
        assert step in text


@pytest.mark.parametrize("command", COMMANDS)
def test_guide_command_parses(command: str) -> None:
    words = [EXAMPLES.get(w, w) for w in shlex.split(command)[1:]]
    try:
        build_parser().parse_args(words)
    except SystemExit as exc:  # argparse's way of saying the command line is wrong
        if exc.code != 0:  # (--help exits 0)
            pytest.fail(f"`{command}` is not a valid nasfs command line")
