"""The filesystems scripts/bench_fs.py compares, each on a directory of the same disk.

A target is started once, gives the directory the workloads write into (`root`), can make
itself cold (drop the page cache, and for nasfs also its own caches by restarting the
daemon) and is stopped at the end. Targets: a native directory, mergerfs over one branch
(the Debian package, installed with apt-get if missing), pyfuse3's own passthroughfs
example (taken from the pyfuse3 sdist of the version in this environment, downloaded with
pip at bench time, never stored in this repository), and nasfs served by its daemon with
one everyone-rw share, so the policy gate decides and logs every access.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MOUNT_TIMEOUT_S = 120.0


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3")


def wait_for_mount(proc: subprocess.Popen[bytes], mnt: Path, what: str) -> None:
    deadline = time.monotonic() + MOUNT_TIMEOUT_S
    while not os.path.ismount(mnt):
        if proc.poll() is not None:
            sys.exit(f"bench_fs: {what} exited with {proc.returncode} before mounting")
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"bench_fs: {what} did not mount {mnt} within {MOUNT_TIMEOUT_S:g} s")
        time.sleep(0.05)


def unmount(mnt: Path) -> None:
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)


def stop_process(proc: subprocess.Popen[bytes], mnt: Path, *, grace_s: float = 0.0) -> int:
    """Wait up to grace_s for the serving process to exit by itself (after an unmount), then
    SIGTERM it; unmount whatever is left. Its exit status."""
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=MOUNT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    unmount(mnt)
    return rc


class Target:
    """A native directory: the baseline."""

    name = "native"

    def __init__(self, base: Path) -> None:
        self.base = base / self.name.replace(" ", "-")
        self.base.mkdir()
        self.root = self.base / "data"
        self.root.mkdir()

    def start(self) -> None:
        pass

    def cold(self) -> None:
        drop_caches()

    def stop(self) -> int:
        return 0


class FuseProcessTarget(Target):
    """A FUSE filesystem served by a process of its own over a branch directory."""

    def __init__(self, base: Path) -> None:
        self.base = base / self.name.replace(" ", "-")
        self.base.mkdir()
        self.branch = self.base / "branch"
        self.branch.mkdir()
        self.mnt = self.base / "mnt"
        self.mnt.mkdir()
        self.root = self.mnt
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.base / "serve.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, cwd=self.base)
        wait_for_mount(self.proc, self.mnt, self.name)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        unmount(self.mnt)
        # Unmounted, a FUSE server's main loop returns and the process exits 0.
        return stop_process(self.proc, self.mnt, grace_s=30.0)


class MergerfsTarget(FuseProcessTarget):
    """mergerfs over one branch, with its default options."""

    name = "mergerfs"

    def argv(self) -> list[str]:
        # -f: stay in the foreground, so stop() can wait for the process.
        return ["mergerfs", "-f", "-o", "fsname=bench-mergerfs", str(self.branch), str(self.mnt)]

    @staticmethod
    def install() -> None:
        """apt-get install mergerfs unless it is there (idempotent)."""
        if shutil.which("mergerfs"):
            return
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "install", "-y", "-qq", "mergerfs"], env=env,
                          capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "mergerfs"], env=env,
                           check=True, capture_output=True)


class PassthroughTarget(FuseProcessTarget):
    """pyfuse3's examples/passthroughfs.py, run by this environment's Python."""

    name = "pyfuse3 passthrough"

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.script = self.fetch_example(self.base)

    @staticmethod
    def fetch_example(into: Path) -> Path:
        """Download the pyfuse3 sdist matching the installed version; extract the example.
        The release, not the local build: scripts/setup installs a patched pyfuse3 whose
        version carries a local label (3.5.0+nasfs.<patch hash>), which PyPI does not have."""
        import pyfuse3

        version = pyfuse3.__version__.split("+", 1)[0]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", f"pyfuse3=={version}", "-d", str(into)],
                       check=True, capture_output=True)
        sdist = into / f"pyfuse3-{version}.tar.gz"
        member = f"pyfuse3-{version}/examples/passthroughfs.py"
        with tarfile.open(sdist) as tar:
            source = tar.extractfile(member)
            if source is None:
                sys.exit(f"bench_fs: {sdist.name} has no {member}")
            script = into / "passthroughfs.py"
            script.write_bytes(source.read())
        return script

    def argv(self) -> list[str]:
        return [sys.executable, str(self.script), str(self.branch), str(self.mnt)]


# NASFS_BENCH_PROFILE=FILE runs the daemon's trio thread under cProfile and writes the stats
# to FILE at a clean stop, and the number of FUSE requests of each kind to FILE.requests
# (JSON), counted by wrapping the request handlers (cProfile counts every resumption of a
# coroutine as a call, so its counts of async handlers are not requests). For
# scripts/profile_fs.py. NASFS_BENCH_COUNT=FILE counts the requests alone (no cProfile) and
# writes the counts so far to FILE whenever the daemon gets SIGUSR1 (scripts/fuse_floor.py).
NASFS_DAEMON = """
import collections, cProfile, functools, inspect, json, os, signal, sys, trio
from pathlib import Path
from nasfs.config import Config
from nasfs.daemon.service import Daemon, DaemonOptions
from nasfs.fuse import operations
run_dir, mnt, sock, *members = sys.argv[1:]
profile_to = os.environ.get("NASFS_BENCH_PROFILE")
requests = collections.Counter()

def counted(name, handler):
    @functools.wraps(handler)
    async def handle(*args, **kwargs):
        requests[name] += 1
        if name == "lookup" and args[1] == 1:
            requests["lookup in the root (share names)"] += 1
        return await handler(*args, **kwargs)
    return handle

count_to = os.environ.get("NASFS_BENCH_COUNT")

def dump_counts(signum, frame):
    part = Path(count_to + ".part")
    part.write_text(json.dumps(requests))
    part.rename(count_to)

if count_to:
    signal.signal(signal.SIGUSR1, dump_counts)
if profile_to or count_to:
    for name, handler in list(vars(operations.Operations).items()):
        if inspect.iscoroutinefunction(handler) and not name.startswith("_"):
            setattr(operations.Operations, name, counted(name, handler))
config = Config(members=tuple(Path(p) for p in members), run_dir=Path(run_dir),
                socket=Path(sock))
daemon = Daemon(DaemonOptions(config, mountpoint=Path(mnt)))
profiler = cProfile.Profile() if profile_to else None
if profiler:
    profiler.enable()
trio.run(lambda: daemon.run(on_ready=lambda: print("ready", flush=True)))
if profiler:
    profiler.disable()
    profiler.dump_stats(profile_to)
    Path(profile_to + ".requests").write_text(json.dumps(requests))
"""
SHARE = "bench"


class NasfsTarget(Target):
    """nasfs through its daemon; workloads run as root in an everyone-rw share."""

    def __init__(self, base: Path, members: int, nparity: int) -> None:
        self.name = f"nasfs p={nparity}"
        self.base = base / f"nasfs-p{nparity}"
        self.base.mkdir()
        self.members = [self.base / f"member{i}" for i in range(members)]
        for m in self.members:
            m.mkdir()
        self.nparity = nparity
        self.mnt = self.base / "mnt"
        self.mnt.mkdir()
        self.run_dir = self.base / "run"
        self.run_dir.mkdir()
        self.socket = self.run_dir / "control.sock"
        self.root = self.mnt / SHARE
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.base / "daemon.log"

    def start(self) -> None:
        from nasfs.client import Client
        from nasfs.client.policy import PolicyClient
        from nasfs.store import Store

        Store.create(self.members, self.nparity)
        self.serve()
        with Client.connect(self.socket) as client:
            admin = PolicyClient(client)
            admin.share_create(SHARE)
            admin.share_acl(SHARE, "everyone", None, "rw")

    def serve(self) -> None:
        env = dict(os.environ, NASFS_RUN_DIR=str(self.run_dir))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", NASFS_DAEMON, str(self.run_dir), str(self.mnt),
                 str(self.socket), *map(str, self.members)],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            rc = self.proc.wait()
            sys.exit(f"bench_fs: the {self.name} daemon exited with {rc}; see {self.log}")
        wait_for_mount(self.proc, self.mnt, f"the {self.name} daemon")

    def cold(self) -> None:
        # A fresh daemon: no chunk, attribute or policy caches, then no page cache either.
        # A daemon that did not stop cleanly may have lost what it had not flushed: that
        # ends the benchmark instead of timing whatever is left.
        rc = self.stop()
        if rc != 0:
            sys.exit(f"bench_fs: the {self.name} daemon exited with {rc} when stopped for a "
                     f"cold row; see {self.log}")
        self.serve()
        drop_caches()

    def stop(self) -> int:
        if self.proc is None:
            return 0
        rc = stop_process(self.proc, self.mnt)
        self.proc = None
        return rc
