"""The parity module's outputs reuse mapped memory instead of faulting in fresh pages.

encode and reconstruct allocate their outputs; with glibc's default thresholds every 1 MiB
output of a P+Q encode was a fresh mmap, faulted in page by page (512 faults a call), which
made the store's encodes run at a tenth of memcpy in a fresh process. Each check runs in a
fresh interpreter, so no other test's allocations warm the heap first, and counts page
faults (getrusage minflt), not time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Faults per call over repeated calls, in the thread given. One output page is 4 KiB, so
# an encode that faulted its outputs in afresh would count 2 * 1 MiB / 4 KiB = 512.
MEASURE = """
import json, os, resource, sys, threading
import parity

SHARD = 1 << 20
data = [os.urandom(SHARD) for _ in range(3)]
views = [memoryview(bytes(1) + d)[1:] for d in data]
full = [*data, *parity.encode(data, 2)]
calls = {
    "encode p=2 bytes": lambda: parity.encode(data, 2),
    "encode p=2 unaligned views": lambda: parity.encode(views, 2),
    "encode p=1 bytes": lambda: parity.encode(data, 1),
    "rebuild 2 data": lambda: parity.reconstruct([None, None, *full[2:]], 2),
    "rebuild 1 data": lambda: parity.reconstruct([None, *full[1:]], 2),
}
result = {"tuned": parity._parity._malloc_tuned()}

def measure():
    for name, call in calls.items():
        call()  # the first call may grow the heap: that is paid once per process
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for _ in range(20):
            call()
        result[name] = (resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) / 20

if sys.argv[1] == "thread":
    worker = threading.Thread(target=measure)
    worker.start()
    worker.join()
else:
    measure()
print(json.dumps(result))
"""


def run_fresh(where: str, env_extra: dict[str, str] | None = None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", MEASURE, where], cwd=REPO, env=env,
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out)
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
@pytest.mark.parametrize("where", ["main", "thread"])
def test_outputs_reuse_mapped_memory(where: str) -> None:
    result = run_fresh(where)
    assert result.pop("tuned") is True
    for name, faults in result.items():
        # Far below one fault per output page (256 per 1 MiB output): the heap reuses the
        # freed outputs of the previous call.
        assert faults < 32, f"{name}: {faults} page faults per call"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
@pytest.mark.parametrize("setting", [
    {"MALLOC_MMAP_THRESHOLD_": "262144"},
    {"MALLOC_TRIM_THRESHOLD_": "262144"},
    {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=262144"},
])
def test_environment_that_tunes_malloc_is_left_alone(setting: dict[str, str]) -> None:
    assert run_fresh("main", setting)["tuned"] is False
