"""The daemon: one process that owns one array, mounts it and serves the control socket.

It only assembles parts (store, filesystem, FUSE adapter, control server, periodic jobs)
and runs the start-up and shutdown sequences; the parts do the work. Order matters:

start:  check mount point → read labels (array UUID; a missing member only with --degraded)
        → take the array lock → open store → open policy → open the volume (filesystem,
        trash, gate: nasfs.daemon.array) → method groups (each adds its periodic jobs:
        log export, trash retention, snapshot and scrub schedules) → control socket →
        periodic jobs → FUSE mount (with the filesystem's group commit) → publish the
        daemon record → report ready
stop:   (SIGTERM/SIGINT, the `umount` method, or someone unmounting it from outside)
        stop taking new control requests → wait for a running scrub/rebuild →
        unmount (no new file operations) → flush durably and close the filesystem →
        close the store → remove record and socket → release the lock

A kill -9 skips "stop": the lock dies with the process, and the next daemon replaces the
stale socket and record (the filesystem recovers from its own journal at open).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from nasfs import registry
from nasfs.config import Config
from nasfs.config_follow import follow_config_file, followed_members
from nasfs.daemon import damagelog, sdnotify
from nasfs.daemon.array import ArrayNotOpen, MountedArray, Volume
from nasfs.daemon.control import ControlServer, MethodTable
from nasfs.daemon.degraded import check_degraded
from nasfs.daemon.host import Event, EventListener, RawEvent
from nasfs.daemon.methods import register_all
from nasfs.daemon.mountpoint import check_mountpoint, clear_dead_mount
from nasfs.daemon.periodic import PeriodicJobs
from nasfs.daemon.promotion import keep_sync_count
from nasfs.daemon.status import MemberErrors
from nasfs.db import ReplicatedDB
from nasfs.errors import NasfsError
from nasfs.fs import Filesystem
from nasfs.fuse import serve
from nasfs.mail.notifier import Notifier
from nasfs.policy import PolicyService, db_dirs
from nasfs.policy.gate import Gate
from nasfs.policy.records import ShareRecord
from nasfs.smb.hooks import samba_hooks
from nasfs.smb.service import SmbService
from nasfs.store import Store
from nasfs.store.assembly import assemble
from nasfs.trash import TRASH_MIGRATIONS, Trash

log = logging.getLogger(__name__)

RECENT_EVENTS = 200


@dataclass
class DaemonOptions:
    """What to run: the array, and where (or whether) to mount it."""

    config: Config
    mountpoint: Path | None  # None: serve the control socket over the array, no mount
    fuse_options: list[str] = field(default_factory=list)
    # Serve the array even with a member missing (nasfs.daemon.degraded); off, it refuses.
    degraded: bool = False


class Daemon:
    """One array owned by this process. Build with DaemonOptions, then `await run()`."""

    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.config = options.config
        self.mountpoint = options.mountpoint
        self.array_uuid: str | None = None
        # The open array's parts (nasfs.daemon.array), from open until the stop sequence
        # closes them; the method groups reach them through `array`.
        self._array: MountedArray | None = None
        self.smb: SmbService | None = None  # smbd over the mount (methods/smb.py)
        self.mounted = False
        self.pid = os.getpid()
        self.started_at = time.time()
        self.events: collections.deque[Event] = collections.deque(maxlen=RECENT_EVENTS)
        self.methods = MethodTable()
        self.jobs = PeriodicJobs()
        self.server: ControlServer | None = None
        self.socket_path: Path | None = None
        self.job_lock = trio.Lock()  # one scrub/rebuild at a time
        self.running_job: str | None = None
        self.cancel_job = threading.Event()  # set by `scrub.cancel`; the job's thread looks
        self.member_errors = MemberErrors()
        # What went wrong while stopping (a part that could not be closed cleanly), for
        # `nasfs umount` and the exit status; empty after a clean stop.
        self.stop_problems: list[str] = []
        # Called with every event as it is recorded (store events also with the raw
        # StoreEvent), from any thread: the mail notifier listens here (methods/mail.py).
        self.event_listeners: list[EventListener] = []
        self.notifier = Notifier()
        self._shutdown_requested = trio.Event()
        self._stopped = trio.Event()
        self._fuse_scope: trio.CancelScope | None = None
        self._fuse_done = trio.Event()
        self._trio_token: trio.lowlevel.TrioToken | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def run(self, *, on_ready: Callable[[], None] = lambda: None) -> None:
        """Start, call `on_ready` once serving, and return after a clean shutdown.

        Raises NasfsError subclasses (from checks, assembly, the lock, the store) before
        `on_ready` if the array cannot be served.
        """
        self._trio_token = trio.lowlevel.current_trio_token()
        fuse_options: list[str] = []
        if self.mountpoint is not None:
            clear_dead_mount(self.mountpoint)
            fuse_options = check_mountpoint(self.mountpoint, self.options.fuse_options)
        members = list(self.config.members)
        assembly = await trio.to_thread.run_sync(assemble, members)
        warning = check_degraded(assembly, allowed=self.options.degraded)
        if warning is not None:
            log.warning("%s", warning)
        self.array_uuid = assembly.label.array_uuid
        run_dir = self.config.run_dir
        where = f"mounted at {self.mountpoint}" if self.mountpoint else "unmounted"
        lock = registry.ArrayLock.acquire(
            run_dir, self.array_uuid, f"nasfs daemon, {where}", what=f"array {self.array_uuid}")
        try:
            await self._run_locked(members, fuse_options, on_ready)
        except BaseException as exc:
            if not isinstance(exc, trio.Cancelled | KeyboardInterrupt):
                self.stop_problems.append(f"the daemon failed: {_describe(exc)}")
            raise
        finally:
            # Last, so that `nasfs umount` (waiting for the lock) reads how it really ended.
            registry.write_outcome(run_dir, self.array_uuid, self.stop_problems)
            registry.remove_record(run_dir, self.array_uuid)
            lock.release()

    async def _run_locked(
        self, members: list[Path], fuse_options: list[str], on_ready: Callable[[], None],
    ) -> None:
        assert self.array_uuid is not None
        store: Store | None = await trio.to_thread.run_sync(self._open_store, members)
        policy: PolicyService | None = None
        try:
            assert store is not None
            policy = await trio.to_thread.run_sync(self._open_policy, store)
            self._array = MountedArray(self.array_uuid, store, policy)
            if self.mountpoint is not None:
                self._array.volume = await self._open_volume(store, policy)
            register_all(self.methods, self)
            damagelog.register(self)
            self.socket_path = self.config.socket or registry.socket_path(
                self.config.run_dir, self.array_uuid)
            self.server = ControlServer(self.socket_path, self.methods)
            async with trio.open_nursery() as nursery:
                await nursery.start(policy.run)  # the access-log writer
                await nursery.start(self.notifier.run)  # mail, in worker threads
                await nursery.start(self.server.serve)
                nursery.start_soon(self._watch_signals)
                await nursery.start(self.jobs.run)
                if self._array.volume is not None:
                    # fs.db's promotions copy in a worker, not in a commit on this thread.
                    await nursery.start(keep_sync_count, self._fs_db)
                if self.mountpoint is not None:
                    await nursery.start(self._serve_fuse, fuse_options)
                    if self.smb is not None:
                        # Only now: smbd must never serve the bare mount point.
                        await trio.to_thread.run_sync(self.smb.mount_ready)
                registry.write_record(self.config.run_dir, registry.new_record(
                    self.array_uuid, self.socket_path, self.mountpoint, members))
                state = f"mounted at {self.mountpoint}" if self.mounted else "not mounted"
                self.note("daemon", "started", f"pid {os.getpid()}, {state}")
                on_ready()
                await self._shutdown_requested.wait()
                await self._stop()
                self._stopped.set()
                # Let a `umount` caller receive its answer before the socket goes away.
                with trio.move_on_after(5):
                    await self.server.wait_idle()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._stop_smb()
                # Each part is closed even when one before it failed (a lost or full
                # member): whatever can still be saved is, and each failure is reported.
                await self._close_filesystem()
                self._array = None
                if policy is not None:
                    await self._close_part("the policy databases", policy.close)
                if store is not None:
                    await self._close_part("the store", store.close)
        if self.stop_problems:
            log.error("daemon for array %s stopped with problems: %s", self.array_uuid,
                      "; ".join(self.stop_problems))
        else:
            log.info("daemon for array %s stopped cleanly", self.array_uuid)

    @property
    def array(self) -> MountedArray:
        """The open array (ArrayNotOpen while starting or after the stop sequence)."""
        if self._array is None:
            raise ArrayNotOpen("the daemon has no array open: it is starting or stopping")
        return self._array

    @property
    def open_array(self) -> MountedArray | None:
        """The open array, or None (for event listeners, which may be called while the
        stop sequence closes the parts)."""
        return self._array

    @property
    def store(self) -> Store:
        return self.array.store

    @property
    def policy(self) -> PolicyService:
        return self.array.policy

    @property
    def stopping(self) -> bool:
        """Shutdown was requested (readable from worker threads: long jobs stop early)."""
        return self._shutdown_requested.is_set()

    def request_shutdown(self, reason: str) -> None:
        """Begin the stop sequence (idempotent; safe from any trio task)."""
        if not self._shutdown_requested.is_set():
            log.info("shutting down: %s", reason)
            sdnotify.stopping(reason)
            self.note("daemon", "stopping", reason)
            self._shutdown_requested.set()

    async def shutdown_and_wait(self, reason: str) -> None:
        """Request shutdown and return once the array is unmounted, flushed and closed."""
        self.request_shutdown(reason)
        await self._stopped.wait()

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.accepting = False
        # A scrub or rebuild runs in a worker thread that cannot be interrupted; closing the
        # store under it would fail it halfway, so wait (both resume from where they were).
        async with self.job_lock:
            pass
        await self._stop_smb()  # SMB clients go before the mount they use
        if self._fuse_scope is not None and self.mounted:
            self._fuse_scope.cancel()
            await self._fuse_done.wait()
        await self._close_filesystem()

    async def _stop_smb(self) -> None:
        if self.smb is not None:
            await self._close_part("smbd", self.smb.before_unmount)

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                self.request_shutdown(f"received {signal.Signals(signum).name}")

    # -- parts ---------------------------------------------------------------------------

    def _open_store(self, members: list[Path]) -> Store:
        return Store.open(members, events=self._store_event)

    def _open_policy(self, store: Store) -> PolicyService:
        # policy.db and audit.db sit beside store.db on every present member.
        # Its hooks reach the SMB export: Samba's passdb follows every password change, and
        # the access log names the client an smbd process serves.
        return PolicyService.open(db_dirs(store.present), nparity=store.nparity,
                                  identity=self.array_uuid, hooks=samba_hooks(),
                                  events=self._store_event, copy_ok=store.copy_ok)

    async def _open_volume(self, store: Store, policy: PolicyService) -> Volume:
        # On the trio thread, not a worker: the filesystem's SQLite connection is used from
        # this thread only (docs/architecture.md, concurrency rule). Its database copies sit
        # beside the store's on every present member (Filesystem.open's default).
        fs = Filesystem.open(store, events=self._store_event,
                             extra_migrations=[TRASH_MIGRATIONS])
        fs.failsafe.listeners.append(self._read_only_changed)
        trash = Trash(fs, policy.clock)
        volume = Volume(fs, trash, Gate(fs, policy, trash))
        volume.gate.ensure_all_share_folders()
        token = trio.lowlevel.current_trio_token()

        def share_created(share: ShareRecord) -> None:
            # Called in the worker thread of the admin call: the folder is made on the trio
            # thread (the filesystem's), before `share create` answers.
            array = self._array
            if array is not None and array.volume is not None:
                trio.from_thread.run_sync(array.volume.gate.ensure_share_folder, share,
                                          trio_token=token)

        policy.on_share_created.append(share_created)
        return volume

    def _read_only_changed(self, reason: str | None) -> None:
        """The mount entered (reason) or left (None) its read-only fail-safe state: an event
        for status, the console and the mail (nasfs.fs.failsafe logs it to the system log)."""
        if reason is None:
            self.note("daemon", "writable-again", f"{self.mountpoint} takes changes again")
        else:
            self.note("daemon", "read-only", f"{self.mountpoint} is read-only: changes cannot "
                      f"be saved ({reason}); files can still be read")

    def _fs_db(self) -> ReplicatedDB | None:
        """fs.db while the volume is open (the promotion keeper stops asking after that)."""
        array = self._array
        if array is None or array.volume is None:
            return None
        db = array.volume.fs.db  # typed by the fs layer as the queries it needs
        return db if isinstance(db, ReplicatedDB) else None

    async def _close_filesystem(self) -> None:
        array = self._array
        if array is None or array.volume is None:
            return
        fs, array.volume = array.volume.fs, None
        try:
            await fs.close()  # flushes durably first
        except Exception as exc:
            self._stop_problem("the filesystem", exc)

    async def _close_part(self, what: str, close: Callable[[], None]) -> None:
        try:
            await trio.to_thread.run_sync(close)
        except Exception as exc:
            self._stop_problem(what, exc)

    def _stop_problem(self, what: str, exc: BaseException) -> None:
        """Record a failure of the stop sequence: logged in one line, told to `umount`."""
        text = f"{what} could not be closed cleanly: {_describe(exc)}"
        log.error("%s", text)
        log.debug("details of the failure to close %s", what, exc_info=exc)
        self.stop_problems.append(text)
        self.note("daemon", "stop-failed", text)

    async def _serve_fuse(
        self, fuse_options: list[str], *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        assert self.mountpoint is not None
        volume = self.array.require_volume("so there is nothing to serve")
        try:
            with trio.CancelScope() as scope:
                self._fuse_scope = scope
                async with trio.open_nursery() as nursery:
                    await nursery.start(functools.partial(
                        serve, volume.fs, self.mountpoint, options=fuse_options,
                        gate=volume.gate))
                    self.mounted = True
                    task_status.started()
            if not scope.cancelled_caught:
                # serve() returned by itself: someone unmounted it from outside.
                self.request_shutdown(f"{self.mountpoint} was unmounted from outside")
        finally:
            self.mounted = False
            self._fuse_done.set()

    def member_replaced(self, index: int, onto: Path) -> str | None:
        """After a rebuild onto `onto`: the daemon's member list, its record and its config
        file name the new disk. Returns what changed in the file (None if nothing did)."""
        assert self.array_uuid is not None
        present = dict(self.store.present)
        new = followed_members(list(self.config.members), index, onto, present)
        if new is not None:
            self.config = dataclasses.replace(self.config, members=tuple(new))
            record = registry.read_record(self.config.run_dir, self.array_uuid)
            if record is not None:
                registry.write_record(self.config.run_dir, dataclasses.replace(
                    record, members=[str(m) for m in new]))
        source = self.config.source
        if source is None or not source.exists():
            return None
        note = follow_config_file(source, self.array_uuid, index, onto, present)
        if note is not None:
            self.note("daemon", "config-updated", note)
        return note

    # -- events --------------------------------------------------------------------------

    def note(self, source: str, kind: str, detail: str) -> None:
        self._record(Event(time.time(), source, kind, detail), None)

    def _record(self, event: Event, raw: RawEvent | None) -> None:
        self.events.append(event)
        for listener in self.event_listeners:
            try:
                listener(event, raw)
            except Exception:
                log.exception("event listener failed on %s", event)

    def _store_event(self, event: RawEvent) -> None:
        # Called from worker threads as well as the trio thread: deque.append is atomic.
        # Not logged here: the store and the databases log their own events.
        kind = getattr(event, "kind", type(event).__name__)
        detail = getattr(event, "detail", "") or str(event)
        # Events about database copies, whoever relays them (a nasfs.db.DBEvent, or the
        # store's "db-*" StoreEvent for its catalog), read the same: "db-KIND", naming the
        # database and the copy.
        database = getattr(event, "database", None)
        if database is not None:
            kind = f"db-{kind}"
        elif str(kind).startswith("db-"):
            database = "store"
        if database is not None:
            detail = f"{database}.db copy {getattr(event, 'path', None) or '?'}: {detail}"
            # The store relays its own catalog's; the other databases' failed copies are
            # told here, so a member that fails only under them is found too.
            array = self._array
            path = getattr(event, "path", None)
            if kind == "db-failed" and array is not None and path is not None:
                array.store.suspect_copy(path)
        self.member_errors.count(str(kind), getattr(event, "member", None), str(detail))
        self._record(Event(time.time(), "store", str(kind), str(detail)), event)


def _describe(exc: BaseException) -> str:
    """One line for an exception: its message (a NasfsError's is a sentence), else its type
    and message; for a group, its leaves."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    if isinstance(exc, NasfsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
