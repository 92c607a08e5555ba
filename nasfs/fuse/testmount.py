"""Mount an array in the foreground, without the daemon: for tests and benchmarks.

    python -m nasfs.fuse.testmount [--create] [--nparity N] [--commit-interval S]
                                   MOUNTPOINT MEMBER...

Creates the array first with --create (members must be empty directories). Serves until
the mount is removed (`fusermount3 -u`) or SIGTERM/SIGINT arrives, then flushes, marks the
volume clean and exits 0. Errors are printed as one line and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from nasfs.errors import NasfsError
from nasfs.fs import Tuning

log = logging.getLogger(__name__)


async def _run(
    mountpoint: Path, members: list[Path], create: bool, nparity: int, writeback: bool,
    commit_interval: float,
) -> None:
    from nasfs.fs import Filesystem
    from nasfs.fuse import serve
    from nasfs.fuse.serve import check_mountpoint
    from nasfs.store import Store

    check_mountpoint(mountpoint)
    if create:
        Store.create(members, nparity)
    store = Store.open(members)
    try:
        fs = Filesystem.open(store, tuning=Tuning(commit_interval=commit_interval))
        try:
            async with trio.open_nursery() as nursery:

                async def stop_on_signal() -> None:
                    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                        async for _ in signals:
                            nursery.cancel_scope.cancel()
                            return

                async def serve_then_stop(task_status: trio.TaskStatus[None]) -> None:
                    await serve(fs, mountpoint, writeback_cache=writeback, task_status=task_status)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(stop_on_signal)
                await nursery.start(serve_then_stop)
                print("mounted", flush=True)
            # serve returned (unmounted from outside) or a signal cancelled it.
        finally:
            with trio.CancelScope(shield=True):
                await fs.close()
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nasfs.fuse.testmount")
    parser.add_argument("--create", action="store_true", help="create the array first")
    parser.add_argument("--nparity", type=int, default=1)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--writeback-cache", action="store_true")
    # Tests that must know which commit a change lands in set it long (only fsync commits).
    parser.add_argument("--commit-interval", type=float, default=Tuning().commit_interval,
                        help="seconds between group commits")
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("members", type=Path, nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        trio.run(_run, args.mountpoint, args.members, args.create, args.nparity,
                 args.writeback_cache, args.commit_interval)
    except NasfsError as exc:
        print(f"nasfs: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
