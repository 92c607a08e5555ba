"""A long-lived process running as another uid, for probes that need state the kernel keeps
per process or per inode across requests: a working directory, open file descriptors.

`UserProcess.run(source)` evaluates one Python expression in that process (with `os`,
`errno`, `fds` — a dict the probes keep descriptors in — and `cd(path)`) and returns its
value, or the errno name of the OSError it raised (`"ENOENT"`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from types import TracebackType
from typing import Any

# The system's interpreter: the project's own may live where other uids cannot run it, and
# the child needs nothing but the standard library.
CHILD_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"

CHILD = r"""
import errno, json, os, sys
fds = {}
def cd(path):
    os.chdir(path)
    return "ok"
for line in sys.stdin:
    try:
        value = eval(line, {"os": os, "errno": errno, "fds": fds, "cd": cd})
        out = {"value": value}
    except OSError as exc:
        out = {"value": errno.errorcode.get(exc.errno or 0, str(exc.errno))}
    print(json.dumps(out, default=repr), flush=True)
"""


class UserProcess:
    def __init__(self, uid: int, gid: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [CHILD_PYTHON, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, user=uid, group=uid if gid is None else gid, extra_groups=[],
            cwd="/")

    def run(self, source: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(source.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the probe process died on {source!r}"
        return json.loads(line)["value"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def __enter__(self) -> UserProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
