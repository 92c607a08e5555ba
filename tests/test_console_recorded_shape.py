"""The recording the console snapshots replay (test_console_recorded.json) still has the
shape of a live daemon's answers: the same keys, the same kinds of values. When this fails
the daemon's answers changed: regenerate the recording with
scripts/record_console_answers.py (and update the pictures) rather than editing it by hand.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import test_cli_mount
from test_cli_mount import Env

from nasfs.client import Client
from tests.os_accounts_util import preserved_extrausers

REPO = Path(__file__).resolve().parent.parent
RECORDED: dict[str, Any] = json.loads((REPO / "tests" / "test_console_recorded.json").read_text())

env = test_cli_mount.env

# Answers that are maps from names to values (setting → value, share → usage): their keys
# are content, not shape; their values are compared by kind only where all are alike.
NAME_MAPS = {"settings.get", "trash.usage.shares"}


def _script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "record_console_answers", REPO / "scripts" / "record_console_answers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclass looks its module up by name)
    spec.loader.exec_module(module)
    return module


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_problems(live: Any, recorded: Any, where: str) -> list[str]:
    """Where `live` and `recorded` differ in shape; null stands for a value of any kind."""
    if live is None or recorded is None:
        return []
    if kind(live) != kind(recorded):
        return [f"{where}: a {kind(live)} now, a {kind(recorded)} in the recording"]
    if isinstance(live, dict):
        if where in NAME_MAPS:
            return []
        problems = [f"{where}: '{k}' is new" for k in sorted(set(live) - set(recorded))]
        problems += [f"{where}: '{k}' is gone" for k in sorted(set(recorded) - set(live))]
        for k in sorted(set(live) & set(recorded)):
            problems += shape_problems(live[k], recorded[k], f"{where}.{k}")
        return problems
    if isinstance(live, list) and recorded:
        problems = []
        # Item by item where the recording has as many (lists of unlike things: a folder
        # job and a USB job have different destination fields), else each like the first.
        for i, item in enumerate(live):
            like = recorded[i] if len(recorded) == len(live) else recorded[0]
            problems += shape_problems(item, like, f"{where}[]")
        return sorted(set(problems))
    return []


def test_shape_problems_are_found() -> None:
    assert shape_problems({"a": 1, "b": [{"c": "x"}]}, {"a": 2, "b": [{"c": None}]}, "m") == []
    assert shape_problems({"a": 1, "new": 2}, {"a": 1, "old": 3}, "m") == [
        "m: 'new' is new", "m: 'old' is gone"]
    assert shape_problems([{"a": True}], [{"a": 1}], "m") == [
        "m[].a: a bool now, a number in the recording"]


def test_the_recording_has_the_shape_of_a_live_daemons_answers(env: Env) -> None:
    script = _script()
    # smbd serves alice as alice, so she must reach the mount point: not below pytest's
    # private tmp dirs (pytest makes them 0700 again whenever another run starts).
    outer = Path(tempfile.mkdtemp(prefix="nasfs-shape-"))
    os.chmod(outer, 0o755)
    mnt = outer / "mnt"
    mnt.mkdir()
    smb = script.SmbPlace.beside(mnt)
    try:
        with preserved_extrausers():  # SMB publishes the office's accounts to the system
            env.mount(mnt, env.members())
            with Client.connect(mnt, run_dir=env.run_dir) as client:
                def call(method: str, params: dict[str, Any]) -> Any:
                    return client.call(method, params)

                try:
                    script.set_up(call, mnt, smb)
                    live = script.record(call, client, smb)
                finally:
                    script.stop_smb(call)
            env.run("umount", mnt)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, check=False)
        shutil.rmtree(outer, ignore_errors=True)
    assert live["smb.status"]["running"] and live["smb.sessions"]["sessions"], live
    live["degraded"] = live["healthy"]  # the same ArrayStatus shape (no second mount here)
    assert set(RECORDED) - {"_about"} == set(live)
    problems = [p for key in sorted(live) for p in shape_problems(live[key], RECORDED[key], key)]
    assert problems == [], "regenerate with scripts/record_console_answers.py:\n" + "\n".join(
        problems)
