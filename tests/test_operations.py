"""One list of access-log operation names: what the rows say, what --op accepts, what
`nasfs log show --help` and the console's log filter show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasfs.operations import ACCESS_OPERATIONS, UnknownOperation, access_operation

REPO = Path(__file__).parent.parent


def test_everyday_words_find_the_rows_names() -> None:
    assert access_operation("unlink") == "delete"
    assert access_operation(" Write ") == "open-write"
    assert access_operation("rename") == "rename"
    with pytest.raises(UnknownOperation, match="it records: create, mkdir"):
        access_operation("frobnicate")


def test_log_show_help_lists_every_operation() -> None:
    done = subprocess.run([sys.executable, "-m", "nasfs.cli.main", "log", "show", "--help"],
                          capture_output=True, text=True, check=True, cwd=REPO,
                          env=dict(os.environ, COLUMNS="80"))
    text = "".join(done.stdout.split())  # argparse wraps the list across lines
    for name in ACCESS_OPERATIONS:
        assert name in text, name


def test_the_gate_logs_only_listed_operations() -> None:
    # Every literal the gate passes as an operation is in the list (the gate also asserts
    # it at run time, which the FUSE policy tests exercise).
    import re

    source = "".join(p.read_text() for p in (REPO / "nasfs" / "policy" / "gate").glob("*.py"))
    named = set(re.findall(
        r'(?:\blog|deny|need|need_create|refuse|_refused|require|keep_reserved)\([^()]*?"([a-z-]+)"',
        source))
    named |= set(re.findall(r'operation = \(?"([a-z-]+)"', source))
    assert named and named <= set(ACCESS_OPERATIONS), named - set(ACCESS_OPERATIONS)
