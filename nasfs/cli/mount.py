"""`nasfs mount`, `nasfs umount`, `nasfs status` and `nasfs demo`.

Which array: `--array MEMBER...` on the command line, else the config file (`--config`,
default /etc/nasfs/nasfs.toml). `status` talks to the daemon when one runs and otherwise
reads the array offline, under the array lock so it never races a daemon.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nasfs import exitcodes, registry
from nasfs.cli.status import array_status_anyhow, format_status
from nasfs.client import ArrayStatus, Client, DaemonGone, DaemonNotRunning
from nasfs.client.connection import Connection
from nasfs.config import Config, default_log_dir, load_config
from nasfs.daemon.mountpoint import is_mounted, split_options, wait_unmounted
from nasfs.errors import NasfsError, UsageError
from nasfs.wire import codes

log = logging.getLogger(__name__)


class NotMountedError(NasfsError):
    """`nasfs umount` of a directory where nothing is mounted."""

    wire_code = codes.NOT_MOUNTED


class UnmountedUncleanly(NasfsError):
    """The array is unmounted, but its daemon could not save or close everything."""

    wire_code = codes.UNMOUNTED_UNCLEANLY


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    mount = subparsers.add_parser(
        "mount", help="assemble an array and mount it (runs the daemon)",
        description="Assemble the array, mount it at MOUNTPOINT and serve it. Without "
                    "--foreground the daemon detaches once the mount is up.")
    mount.add_argument("mountpoint", nargs="?", type=Path, metavar="MOUNTPOINT",
                       help="where to mount (default: mount.mountpoint of the config file)")
    _array_arguments(mount)
    mount.add_argument("--foreground", action="store_true",
                       help="serve in this process until unmounted or interrupted")
    mount.add_argument("--degraded", action="store_true",
                       help="mount even with a disk missing (that disk is then out of date "
                            "and must be rebuilt); without it such a mount is refused")
    mount.add_argument("-o", dest="options", action="append", metavar="OPT[,OPT...]",
                       help="mount options (e.g. allow_other, nonempty)")
    # Used by the detached child to say when it is ready (nasfs.daemon.detach).
    mount.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    mount.set_defaults(func=cmd_mount)

    umount = subparsers.add_parser(
        "umount", help="flush and unmount a mounted array (stops its daemon)")
    umount.add_argument("mountpoint", nargs="?", type=Path, metavar="MOUNTPOINT")
    umount.add_argument("--force", action="store_true",
                        help="unmount even while processes have files open there (they then "
                             "get errors); without it such an unmount is refused")
    umount.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default /etc/nasfs/nasfs.toml)")
    umount.set_defaults(func=cmd_umount)

    status = subparsers.add_parser(
        "status", help="array health, capacity and mount state",
        description="Through the daemon when one runs; otherwise read from the disks.")
    status.add_argument("mountpoint", nargs="?", type=Path, metavar="MOUNTPOINT")
    _array_arguments(status)
    status.set_defaults(func=cmd_status)

    retry = subparsers.add_parser(
        "retry-writes", help="leave the read-only fail-safe state once its cause is fixed",
        description="After the mount turned read-only because its metadata could not be "
                    "saved (docs/space.md): try a commit now; if it works the mount is "
                    "writable again, if not it stays read-only and this says why.")
    retry.add_argument("mountpoint", nargs="?", type=Path, metavar="MOUNTPOINT")
    retry.add_argument("--config", type=Path, metavar="FILE",
                       help="config file (default /etc/nasfs/nasfs.toml)")
    retry.set_defaults(func=cmd_retry_writes)

    demo = subparsers.add_parser(
        "demo", help="build, mount and show a demo array of four member directories")
    demo.add_argument("--data", type=Path, default=Path("data"), metavar="DIR",
                      help="folder for the demo's members and mount point (default ./data)")
    demo.set_defaults(func=cmd_demo)


def _array_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--array", nargs="+", type=Path, metavar="MEMBER",
                        help="the array's member directories (any order)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default /etc/nasfs/nasfs.toml)")


def _config(args: argparse.Namespace, *, mountpoint: Path | None = None) -> Config:
    config = load_config(args.config)
    options = split_options(args.options) if getattr(args, "options", None) else None
    return config.with_overrides(members=args.array, mountpoint=mountpoint,
                                 mount_options=options)


def _where_config(config: Config) -> str:
    return str(config.source) if config.source else "/etc/nasfs/nasfs.toml"


# -- mount ------------------------------------------------------------------------------

def cmd_mount(args: argparse.Namespace) -> int:
    config = _config(args, mountpoint=args.mountpoint)
    if not config.members:
        raise UsageError(f"no array given: name its member directories with --array, or list "
                         f"them under [array] members in {_where_config(config)}")
    if config.mountpoint is None:
        raise UsageError(f"no mount point given: name it, or set [mount] mountpoint in "
                         f"{_where_config(config)}")
    if args.foreground:
        return _serve_foreground(config, args.ready_fd, args.degraded)
    from nasfs.daemon.detach import start_background
    from nasfs.daemon.mountpoint import check_mountpoint, clear_dead_mount

    # Cheap checks here too, so the usual mistakes are reported without a daemon log.
    if clear_dead_mount(config.mountpoint):
        print(f"nasfs: warning: removed the dead mount at {config.mountpoint} left by a "
              "daemon that was killed", file=sys.stderr)
    check_mountpoint(config.mountpoint, config.mount_options)
    warning = _check_members(config, degraded=args.degraded)
    log_file = config.log_file or default_log_dir() / f"{config.name or 'nasfs'}.log"
    argv = ["mount", str(config.mountpoint), "--array", *map(str, config.members)]
    if config.mount_options:
        argv += ["-o", ",".join(config.mount_options)]
    if config.source is not None:
        argv += ["--config", str(config.source)]
    if args.degraded:
        argv.append("--degraded")
    pid = start_background(argv, log_file)
    if warning is not None:
        print(f"nasfs: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({"mountpoint": str(config.mountpoint), "pid": pid,
                          "log": str(log_file)}))
    else:
        print(f"mounted at {config.mountpoint} (daemon pid {pid}, log {log_file})")
    return 0


def _check_members(config: Config, *, degraded: bool) -> str | None:
    """Refuse a missing member before a daemon starts (it checks again itself)."""
    from nasfs.daemon.degraded import check_degraded
    from nasfs.store.assembly import assemble

    return check_degraded(assemble(list(config.members)), allowed=degraded)


def _serve_foreground(config: Config, ready_fd: int | None, degraded: bool) -> int:
    import trio

    from nasfs.daemon import sdnotify
    from nasfs.daemon.detach import ReadyPipe
    from nasfs.daemon.service import Daemon, DaemonOptions

    assert config.mountpoint is not None
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    ready = ReadyPipe(ready_fd)
    daemon = Daemon(DaemonOptions(config, config.mountpoint, list(config.mount_options),
                                  degraded=degraded))

    def on_ready() -> None:
        log.info("serving array %s at %s (control socket %s)", daemon.array_uuid,
                 config.mountpoint, daemon.socket_path)
        ready.ready()
        sdnotify.ready(f"serving at {config.mountpoint}")

    try:
        trio.run(lambda: daemon.run(on_ready=on_ready))
    except NasfsError as exc:
        ready.failed(str(exc), exc.exit_code)
        raise
    except BaseException as exc:
        ready.failed(f"the daemon failed unexpectedly: {exc!r}")
        raise
    # Stopped, but not cleanly (a part could not be closed): say so to systemd and scripts.
    return exitcodes.FAILED if daemon.stop_problems else exitcodes.OK


# -- umount -----------------------------------------------------------------------------

def cmd_umount(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    mountpoint = args.mountpoint.absolute() if args.mountpoint else config.mountpoint
    if mountpoint is None:
        raise UsageError(f"no mount point given: name it, or set [mount] mountpoint in "
                         f"{_where_config(config)}")
    record = registry.find_by_mountpoint(config.run_dir, mountpoint)
    problems: list[str] = []
    if record is not None:
        problems = _stop_daemon(config.run_dir, record, force=args.force)
    if is_mounted(mountpoint):
        if record is not None:
            raise NasfsError(f"{mountpoint} is still mounted after its daemon stopped: "
                             f"{'; '.join(problems) or 'see the daemon log'}")
        print(f"nasfs: warning: no nasfs daemon owns {mountpoint}; unmounting it with "
              "fusermount3 -u (data the daemon had not flushed is lost)", file=sys.stderr)
        done = subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise NasfsError(f"fusermount3 could not unmount {mountpoint}: "
                             f"{done.stderr.strip() or 'exit status ' + str(done.returncode)}")
    elif record is None:
        raise NotMountedError(f"nothing is mounted at {mountpoint}")
    if not wait_unmounted(mountpoint):
        raise NasfsError(f"{mountpoint} is still mounted after 60 seconds")
    if problems:
        raise UnmountedUncleanly(f"unmounted {mountpoint}, but not cleanly: "
                                 f"{'; '.join(problems)}")
    if not args.json:
        print(f"unmounted {mountpoint}")
    else:
        print(json.dumps({"unmounted": str(mountpoint)}))
    return 0


def _stop_daemon(run_dir: Path, record: registry.DaemonRecord, *, force: bool) -> list[str]:
    """Ask the daemon to unmount and stop; wait for it to end; return what went wrong.

    What went wrong is the daemon's own account (its outcome file), or, when it left none,
    that it crashed. A refusal (files open, exit code 5) is raised before anything stops.
    """
    answered = True
    try:
        with Client(Connection.open(Path(record.socket), not_running_hint="")) as client:
            client.umount(force=force)
    except (DaemonNotRunning, DaemonGone) as exc:
        log.info("daemon pid %d did not answer the unmount: %s", record.pid, exc)
        answered = False
    _wait_for_exit(run_dir, record)
    problems = registry.read_outcome(run_dir, record.key, record.pid)
    if problems is None:
        when = "during the unmount" if answered else "before it answered the unmount"
        return [f"the nasfs daemon (pid {record.pid}) crashed {when}; see its log"]
    return problems


def _wait_for_exit(run_dir: Path, record: registry.DaemonRecord, timeout: float = 60) -> None:
    """Wait until the daemon released its lock and its process has ended.

    The lock goes first (at the end of the daemon's shutdown), the process a moment later;
    `umount` returns only after both, so what it reports is final.
    """
    lock = registry.lock_path(run_dir, record.key)
    deadline = time.monotonic() + timeout
    while ((holder := registry.lock_holder(lock)) is not None and holder[0] == record.pid) \
            or _process_alive(record.pid):
        if time.monotonic() > deadline:
            raise NasfsError(f"the nasfs daemon (pid {record.pid}) did not exit within "
                             f"{timeout:.0f} seconds of unmounting")
        time.sleep(0.05)


def _process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, waiting for its parent to reap it, has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat.rpartition(") ")[2].startswith(("Z", "X"))


# -- status -----------------------------------------------------------------------------

def cmd_retry_writes(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    mountpoint = args.mountpoint.absolute() if args.mountpoint else config.mountpoint
    if mountpoint is None:
        raise UsageError(f"no mount point given: name it, or set [mount] mountpoint in "
                         f"{_where_config(config)}")
    with Client.connect(mountpoint, run_dir=config.run_dir) as client:
        was = client.retry_writes()
    if args.json:
        print(json.dumps({"writable": True, "was_read_only": was}))
    elif was is None:
        print(f"{mountpoint} was not read-only; nothing to do")
    else:
        print(f"{mountpoint} is writable again (it was read-only: {was})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    statuses = _statuses(args)
    if args.json:
        body: Any = [s.to_json() for s in statuses]
        print(json.dumps(body[0] if len(body) == 1 else body, indent=2))
    else:
        print("\n\n".join(format_status(s) for s in statuses))
    return status_exit_code(statuses)


def status_exit_code(statuses: list[ArrayStatus]) -> int:
    """The worst state wins: failed (1) over degraded (4) over healthy (0). A mount in its
    read-only fail-safe state counts as degraded: it needs the administrator too."""
    states = {s.state for s in statuses}
    if "failed" in states:
        return exitcodes.FAILED
    if states - {"healthy"} or any(s.read_only for s in statuses):
        return exitcodes.DEGRADED
    return exitcodes.OK


def _statuses(args: argparse.Namespace) -> list[ArrayStatus]:
    config = _config(args)
    if args.mountpoint is not None:
        with Client.connect(args.mountpoint.absolute(), run_dir=config.run_dir) as client:
            return [client.status()]
    if config.members:
        return [array_status_anyhow(config)]
    if config.mountpoint is not None:
        with Client.connect(config.mountpoint, run_dir=config.run_dir) as client:
            return [client.status()]
    records = registry.live_records(config.run_dir)
    if not records:
        raise DaemonNotRunning(
            "no nasfs daemon is running and no array was given: name a mount point, pass "
            f"--array MEMBER..., or list the members in {_where_config(config)}")
    statuses = []
    for record in records:
        with Client(Connection.open(Path(record.socket), not_running_hint="")) as client:
            statuses.append(client.status())
    return statuses


# -- demo -------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from nasfs.cli.demo import run_demo

    return run_demo(args.data.absolute(), as_json=bool(args.json))

