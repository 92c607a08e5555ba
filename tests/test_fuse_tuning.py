"""Mount-time tuning that nothing else would notice going missing."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nasfs.fuse.serve import READ_AHEAD_KB
from tests.conftest import MountedArray


def test_readahead_window_is_raised_after_mount(mounted: MountedArray) -> None:
    # The kernel resets the window when it takes the INIT reply; a write made too early is
    # silently undone and sequential reads fall back to 128 KiB readahead.
    st = os.stat(mounted.mountpoint)
    bdi = Path(f"/sys/class/bdi/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/read_ahead_kb")
    # The daemon tunes it just after the mount appears: wait for it, generously.
    deadline = time.monotonic() + 30
    while int(bdi.read_text()) != READ_AHEAD_KB and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(bdi.read_text()) == READ_AHEAD_KB
