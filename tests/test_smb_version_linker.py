"""The Previous Versions linker: relinks run on its own thread, requests made while one
runs fold into one more relink, and a waiter returns once its request is covered."""

from __future__ import annotations

import threading

from nasfs.smb.version_linker import VersionLinker


def test_requests_made_during_a_relink_fold_into_one_more() -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def relink() -> None:
        runs.append(threading.current_thread().name)
        if len(runs) == 1:
            started.set()
            release.wait(30)

    linker = VersionLinker(relink)
    first = linker.request()
    assert started.wait(30)
    later = [linker.request() for _ in range(5)]  # all while the first relink runs
    assert not linker.wait(first, timeout_s=0.05)  # the first is still running
    release.set()
    assert linker.wait(later[-1])
    assert runs == ["smb-versions", "smb-versions"]  # never on the caller's thread
    linker.close()


def test_a_failed_relink_does_not_hold_up_waiters_and_the_next_one_runs() -> None:
    calls: list[int] = []

    def relink() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("state directory unwritable")

    linker = VersionLinker(relink)
    assert linker.wait(linker.request())
    assert linker.wait(linker.request())
    assert len(calls) == 2
    linker.close()
    assert linker.wait(linker.request())  # closed: nothing runs, nobody waits forever
    assert len(calls) == 2
