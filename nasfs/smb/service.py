"""The daemon's Samba side: runs smbd over the mount while `smb.enabled` is on, and keeps
its configuration in step with the policy.

- smbd starts only once the FUSE mount is up (it must never serve the empty mount point)
  and stops before the mount goes away.
- Every new policy snapshot (users, groups, passwords, shares, ACLs) re-renders the
  configuration; if a file changed it is validated and smbd reloads it: connected clients
  stay connected.
- Changing a `smb.*` setting applies at once (on/off; a new port, interfaces or state
  directory restarts smbd).
- SMB logins count in the lock-out: a watcher thread reads Samba's authentication audit
  events from smbd's log and records each attempt (name and client address) as the console
  login would. A locked name is taken out of Samba's passdb until it is unlocked (it then
  answers like an unknown name, whatever the password); a locked address goes into
  `hosts deny` (refused when it connects). Timed locks end by themselves: the watcher
  notices and puts things back.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasfs.smb import passdb, previous
from nasfs.smb.apply import apply_files
from nasfs.smb.audit import AuditTail
from nasfs.smb.config import (
    Site,
    directories,
    guests_welcome,
    render,
    samba_users,
    user_files,
)
from nasfs.smb.server import Smbd
from nasfs.smb.site import site_from_settings
from nasfs.smb.version_linker import VersionLinker
from nasfs.smb.version_views import Moment, VersionViews

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService
    from nasfs.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5  # how soon a login attempt is counted and a lock takes effect


class SmbService:
    def __init__(self, policy: PolicyService, mountpoint: Path | None) -> None:
        self.policy = policy
        self.mountpoint = mountpoint
        self.mounted = False
        self.smbd: Smbd | None = None
        self.problem: str | None = None  # why smbd is not running although enabled
        # What the lock-out has applied to Samba: names out of the passdb, addresses denied.
        self.locked_users: set[str] = set()
        self.denied: tuple[str, ...] = ()
        self._watch_stop: threading.Event | None = None
        # The volume's snapshots, oldest first: the daemon hands them over whenever they
        # change (`snapshots_changed`), from the file-system thread.
        self.snapshots: tuple[Moment, ...] = ()
        self._views = VersionViews(policy)  # who finds which of them in Previous Versions
        self._links_lock = threading.Lock()  # never the policy lock: see snapshots_changed
        self._linker = VersionLinker(self._relink)
        # With guests on, the passdb's mtime at the last install: a password Samba learnt
        # since (after the policy reload that rendered it) renders the user's hidden shares.
        self._passdb_seen: float | None = None
        # The policy's own lock: settings and policy changes call in holding it, so one lock
        # (not two in either order) guards smbd's life.
        self._lock = policy.policy_lock
        policy.on_reload.append(self._policy_changed)
        policy.on_setting_changed.append(self._setting_changed)

    def site(self) -> Site:
        return site_from_settings(self.policy.settings(), self.mountpoint)

    # -- life cycle (the daemon calls these around the mount) -------------------------------

    def mount_ready(self) -> None:
        """The FUSE mount is up: start smbd if SMB is on."""
        with self._lock:
            self.mounted = True
            if self.policy.setting("smb.enabled"):
                self._start_logged()

    def before_unmount(self) -> None:
        with self._lock:
            self.mounted = False
            self._stop()

    # -- reacting to the policy ------------------------------------------------------------

    def _policy_changed(self, snapshot: PolicySnapshot) -> None:
        with self._lock:
            if self.smbd is not None and self.smbd.running():
                self._install(snapshot, self.smbd.site)

    def _setting_changed(self, key: str, value: Any) -> None:
        if not key.startswith("smb."):
            return
        with self._lock:
            self._stop()
            if self.mounted and self.policy.setting("smb.enabled"):
                self._start()

    def snapshots_changed(self, snapshots: list[Moment]) -> None:
        """A snapshot came or went: relink the Previous Versions of every share. Called on
        the file-system thread, so the relink runs on the linker's thread (it grows with
        users × shares × snapshots, and no FUSE request is served while this runs); it
        takes only its own lock there: the policy lock may be held by a thread waiting for
        smbd, whose processes may wait for the file system."""
        self.snapshots = tuple(snapshots)
        if self.smbd is not None and self.mountpoint is not None:
            self._linker.request()

    def versions_linked(self, timeout_s: float = 60.0) -> bool:
        """Wait until the Previous Versions show every snapshot change reported so far."""
        return self._linker.wait(timeout_s=timeout_s)

    def _relink(self) -> None:
        smbd = self.smbd  # the state now, not when asked: requests fold into one relink
        if smbd is not None and self.mountpoint is not None:
            self._link_versions(smbd.site, self.policy.snapshot)

    def _link_versions(self, site: Site, snapshot: PolicySnapshot) -> None:
        with self._links_lock:
            views = self._views.views(snapshot, user_files(snapshot), self.snapshots)
            previous.sync(site.state_dir, site.mountpoint, views)

    def _install(self, snapshot: PolicySnapshot, site: Site,
                 locked: set[str] | None = None) -> None:
        self._link_versions(site, snapshot)  # before smb.conf points at them
        unknown = set(self.locked_users if locked is None else locked)
        if guests_welcome(snapshot):
            self._passdb_seen = _mtime(_passdb_file(site))
            unknown |= self._without_samba_password(snapshot, site)
        apply_files(render(snapshot, site, self.denied, frozenset(unknown)), site.state_dir,
                    directories=tuple(directories(site)))

    @staticmethod
    def _without_samba_password(snapshot: PolicySnapshot, site: Site) -> set[str]:
        """SMB users the passdb lacks (a password set while `os.accounts` was off)."""
        wanted = set(samba_users(snapshot))
        if not _passdb_file(site).exists():
            return wanted
        return wanted - set(passdb.users(site))

    def _start(self) -> None:
        if self.mountpoint is None:
            self.problem = "the array is not mounted"
            return
        site = self.site()
        try:
            self.locked_users, self.denied = set(), self._denied_addresses()
            self._install(self.policy.snapshot, site)
            smbd = Smbd(site)
            tail = AuditTail(site.log_file)
            smbd.start()
        except Exception as exc:
            self.problem = str(exc)
            raise
        self.smbd, self.problem = smbd, None
        self._enforce_locks(smbd)
        stop = threading.Event()
        self._watch_stop = stop
        threading.Thread(target=self._watch, args=(smbd, tail, stop), daemon=True,
                         name="smb-audit").start()

    # -- the lock-out ---------------------------------------------------------------------

    def _watch(self, smbd: Smbd, tail: AuditTail, stop: threading.Event) -> None:
        """Count SMB login attempts, and apply lock changes (also locks that expired)."""
        while not stop.wait(WATCH_INTERVAL_S):
            try:
                with self._lock:
                    if stop.is_set():
                        return  # smbd was stopped while this waited for the lock
                    guests = guests_welcome(self.policy.snapshot)
                    for attempt in tail.read():
                        if guests and attempt.unknown_name:
                            # Samba made it a guest session: no password was guessed.
                            continue
                        self.policy.lockout.record(attempt.name, attempt.address, attempt.ok)
                    self._enforce_locks(smbd)
                    if guests and _mtime(_passdb_file(smbd.site)) != self._passdb_seen:
                        self._install(self.policy.snapshot, smbd.site)
            except Exception:
                log.exception("reading Samba's authentication audit failed")

    def _denied_addresses(self) -> tuple[str, ...]:
        return tuple(sorted(lock.subject for lock in self.policy.lockout.locks()
                            if lock.kind == "source" and _is_address(lock.subject)))

    def _enforce_locks(self, smbd: Smbd) -> None:
        site = smbd.site
        users = {lock.subject for lock in self.policy.lockout.locks() if lock.kind == "user"}
        kept_aside = passdb.locked(site)  # a directory listing: cheap each round
        if users != self.locked_users or kept_aside - users:
            # A name leaves the passdb only after its hidden shares left the configuration,
            # and gets them back only once it is in the passdb again: never is a locked
            # name unknown to Samba (a guest, where guests are allowed) and has them.
            newly = users - self.locked_users
            if newly:
                self._install(self.policy.snapshot, site, self.locked_users | newly)
                for name in sorted(newly):
                    passdb.lock(site, name)
            for name in sorted(kept_aside - users):
                passdb.unlock(site, name)  # unlocked by hand, or the lock expired
            # Shown (`status`) only once the configuration says it: a client told the name
            # is unlocked must find its shares.
            self._install(self.policy.snapshot, site, users)
            self.locked_users = users
        denied = self._denied_addresses()
        if denied != self.denied:
            self.denied = denied
            self._install(self.policy.snapshot, site)

    def _start_logged(self) -> None:
        try:
            self._start()
        except Exception:
            log.exception("SMB is on but smbd could not be started")

    def _stop(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()  # not joined: it may be waiting for the lock held here
            self._watch_stop = None
        smbd, self.smbd = self.smbd, None
        if smbd is not None:
            smbd.stop()

    # -- status ----------------------------------------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        """The connected sessions (none while smbd is not running)."""
        running = self.smbd is not None and self.smbd.running()
        return smbstatus_sessions(self.site().conf) if running else []

    def status(self) -> dict[str, Any]:
        settings = self.policy.settings()
        site = self.site()
        running = self.smbd is not None and self.smbd.running()
        sessions: list[dict[str, Any]] = []
        if running:
            sessions = smbstatus_sessions(site.conf)
        wanted = samba_users(self.policy.snapshot)
        known = passdb.users(site) if (site.state_dir / "private" / "passdb.tdb").exists() else []
        return {
            "enabled": bool(settings["smb.enabled"]),
            "running": running,
            "pid": self.smbd.pid if running and self.smbd is not None else None,
            "port": site.port,
            "interfaces": list(site.interfaces),
            "state_dir": str(site.state_dir),
            "problem": self.problem,
            "sessions": sessions,
            # NAS users whose password was set before Samba could learn it (os.accounts off):
            # they must set it again to log in over SMB.
            "users_without_samba_password": [u for u in wanted if u not in known
                                             and u not in self.locked_users],
            "locked_users": sorted(self.locked_users) if running else [],
            "denied_addresses": list(self.denied) if running else [],
        }


def _passdb_file(site: Site) -> Path:
    return site.state_dir / "private" / "passdb.tdb"


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def smbstatus_sessions(conf: Path) -> list[dict[str, Any]]:
    """The connected sessions: user, client address, protocol, encryption, smbd pid."""
    done = subprocess.run(["smbstatus", "-s", str(conf), "--json"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return []
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return []
    sessions = []
    for session in (data.get("sessions") or {}).values():
        sessions.append({
            "user": session.get("username"),
            "client": session.get("remote_machine"),
            "protocol": session.get("session_dialect"),
            "encryption": (session.get("encryption") or {}).get("cipher") or None,
            "signing": (session.get("signing") or {}).get("cipher") or None,
            "pid": int(str(session.get("server_id", {}).get("pid", 0)) or 0),
        })
    # Open files per serving smbd process (each connection has its own).
    per_pid: dict[int, int] = {}
    for entry in (data.get("open_files") or {}).values():
        for opened in (entry.get("opens") or {}).values():
            pid = int(str((opened.get("server_id") or {}).get("pid", 0)) or 0)
            per_pid[pid] = per_pid.get(pid, 0) + 1
    for s in sessions:
        s["open_files"] = per_pid.get(s["pid"], 0)
    return sessions
