"""`nasfs demo`: the README's first command — a four-disk demo array, built and mounted.

Idempotent: members are made and formatted only the first time, a running demo is only
reported on. With a terminal and the console installed, the console opens and the array is
unmounted when it closes; otherwise (CI, scripts) the array stays mounted until
`nasfs umount DATA/mnt`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomli_w

from nasfs import registry
from nasfs.cli.status import array_status_anyhow, format_status
from nasfs.client import ArrayStatus, Client
from nasfs.client.connection import Connection
from nasfs.config import Config, load_config
from nasfs.daemon.mountpoint import clear_dead_mount

log = logging.getLogger(__name__)

MEMBER_COUNT = 4
NPARITY = 1

# The demo's login for the console (the administrator, uid 0). A demo only: a real box
# sets its own with `nasfs user passwd root`.
DEMO_ADMIN_PASSWORD = "nasfs-demo"

# Shares the demo makes: an open one, a department one, and a hidden (shadow) one.
DEMO_SHARES: dict[str, dict[str, object]] = {
    "public": {},
    "sales": {"force_group": "sales", "create_mode": "0664", "dir_mode": "2775"},
    "board": {"hidden": True},
}

SAMPLE_FILES: dict[str, bytes] = {
    "public/README.txt": (
        b"This is the nasfs demo array: four member directories (data/members/disk1..4)\n"
        b"with single parity, mounted here. Any one member may be lost without losing\n"
        b"data. Copy files in, run 'nasfs status', try 'nasfs umount' and mount again.\n"
        b"Deleted files go to #trash; 'nasfs snapshot create' fills #snapshot.\n"
    ),
    "public/welcome.txt": "Welcome — ようこそ — to the shared folder.\n".encode(),
    "sales/numbers.csv": b"n,square\n" + b"".join(f"{i},{i * i}\n".encode()
                                                for i in range(1, 101)),
    "board/plan.md": b"# Plan\n\n1. Mount the array.\n2. Put files on it.\n3. Sleep well.\n",
}


def _say(text: str, as_json: bool) -> None:
    # In --json mode only the final JSON goes to stdout; progress notes go to stderr.
    print(text, file=sys.stderr if as_json else sys.stdout, flush=True)


def fuse_layer_available() -> bool:
    try:
        module = importlib.import_module("nasfs.fuse")
    except ImportError:
        return False
    return hasattr(module, "serve")


def console_available() -> bool:
    try:
        if importlib.util.find_spec("console.app") is None:
            return False
        return hasattr(importlib.import_module("console.app"), "main")
    except ImportError:
        return False


def run_demo(data: Path, *, as_json: bool = False) -> int:
    import parity
    from nasfs.store import Store
    from nasfs.store.label import read_label

    config_file = data / "nasfs.toml"
    mountpoint = data / "mnt"
    created = not config_file.exists()
    if created:
        members = [data / "members" / f"disk{i}" for i in range(1, MEMBER_COUNT + 1)]
        for member in members:
            member.mkdir(parents=True, exist_ok=True)
        created = all(read_label(m) is None for m in members)
        if created:
            label = Store.create(members, NPARITY)
            _say(f"created demo array {label.array_uuid} on {MEMBER_COUNT} members "
                 f"(parity {NPARITY}) under {data / 'members'}", as_json)
        _write_demo_config(config_file, members, mountpoint, data / "daemon.log")
    # The demo's members come from its config file: a rebuild onto a new directory updates
    # that file (nasfs.config_follow), so the next demo mounts the new disk, not the old.
    members = list(load_config(config_file).members)

    parity.selftest()
    _say(f"parity self-test: passed (SIMD level {parity.simd_level()})", as_json)

    config = Config(members=tuple(members), mountpoint=mountpoint, name="demo",
                    log_file=data / "daemon.log", source=config_file)
    if not fuse_layer_available():
        status = array_status_anyhow(config)
        _report(status, as_json)
        _say("the filesystem layer is not built yet, so the demo array is not mounted", as_json)
        return 0

    record = registry.find_by_mountpoint(config.run_dir, mountpoint)
    if record is not None:
        _say(f"the demo array is already mounted at {mountpoint}", as_json)
        _report(_status_of(record), as_json)
        return 0
    _mount(config, mountpoint, as_json)
    record = registry.find_by_mountpoint(config.run_dir, mountpoint)
    assert record is not None, "the daemon reported ready without publishing its record"
    if created:
        _make_accounts_and_shares(Path(record.socket))
        _say(f"made the administrator login root (password {DEMO_ADMIN_PASSWORD!r}), user "
             f"alice (uid 1001, group sales) and shares {', '.join(DEMO_SHARES)}", as_json)
        _put_samples(mountpoint)
        _say(f"put {len(SAMPLE_FILES)} sample files on the array", as_json)
    status = _status_of(record)
    if sys.stdin.isatty() and sys.stdout.isatty() and console_available():
        _run_console(Path(record.socket))
        with Client(Connection.open(Path(record.socket), not_running_hint="")) as client:
            client.umount()
        _say(f"unmounted {mountpoint}", as_json)
        return 0
    _report(status, as_json)
    _say(f"the demo array stays mounted at {mountpoint}; unmount it with: "
         f"{_nasfs_command()} umount {mountpoint}", as_json)
    return 0


def _nasfs_command() -> str:
    """How to type nasfs again from anywhere: `scripts/demo` runs `.venv/bin/nasfs`, which
    is not on PATH, so a plain `nasfs` in its advice would be "command not found"."""
    started = sys.argv[0]
    if Path(started).name != "nasfs" or shutil.which("nasfs") == os.path.abspath(started):
        return "nasfs"
    return os.path.abspath(started)


def _mount(config: Config, mountpoint: Path, as_json: bool) -> None:
    from nasfs.daemon.degraded import check_degraded
    from nasfs.daemon.detach import start_background
    from nasfs.store.assembly import assemble

    if clear_dead_mount(mountpoint):
        _say(f"removed the dead mount at {mountpoint} left by a daemon that was killed",
             as_json)
    mountpoint.mkdir(parents=True, exist_ok=True)
    assert config.log_file is not None
    # --degraded: the demo is where a disk failure is tried out, so it comes up without a
    # missing disk, and says so (the warning names the disk and what the mount does to it).
    assert config.source is not None
    argv = ["mount", str(mountpoint), "--config", str(config.source), "--degraded"]
    warning = check_degraded(assemble(list(config.members)), allowed=True)
    if warning is not None:
        _say(f"warning: {warning}", as_json)
    pid = start_background(argv, config.log_file)
    _say(f"mounted the demo array at {mountpoint} (daemon pid {pid}, log {config.log_file})",
         as_json)


def _write_demo_config(path: Path, members: list[Path], mountpoint: Path,
                       log_file: Path) -> None:
    """The demo's config file: its members, mount point and log (absolute paths; no run
    directory, so NASFS_RUN_DIR keeps working)."""
    doc = {"array": {"members": [str(m) for m in members], "name": "demo"},
           "mount": {"mountpoint": str(mountpoint)},
           "daemon": {"log_file": str(log_file)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomli_w.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def _make_accounts_and_shares(socket: Path) -> None:
    from nasfs.client.policy import PolicyClient

    with Client(Connection.open(socket, not_running_hint="")) as client:
        policy = PolicyClient(client)
        policy.user_add("root", 0, password=DEMO_ADMIN_PASSWORD)
        policy.group_add("sales", 2001)
        policy.user_add("alice", 1001)
        policy.group_adduser("sales", "alice")
        for name, options in DEMO_SHARES.items():
            policy.share_create(name, **options)
        policy.share_acl("public", "everyone", None, "rw")
        policy.share_acl("sales", "group", "sales", "rw")


def _put_samples(mountpoint: Path) -> None:
    for name, content in SAMPLE_FILES.items():
        path = mountpoint / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
            os.fsync(f.fileno())


def _status_of(record: registry.DaemonRecord) -> ArrayStatus:
    with Client(Connection.open(Path(record.socket), not_running_hint="")) as client:
        return client.status()


def _report(status: ArrayStatus, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(format_status(status), flush=True)


def _run_console(socket: Path) -> None:
    env = dict(os.environ, NASFS_SOCKET=str(socket))
    code = "from console.app import main; raise SystemExit(main())"
    subprocess.run([sys.executable, "-c", code], env=env, check=False)
