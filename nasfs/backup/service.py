"""The backup control methods and the scheduler, for the daemon that owns the array.

| method | params | result |
|---|---|---|
| backup.add | job (JSON of a Job), ssh_fingerprint?, cloud? or cloud_from?, crypt_password? | job |
| backup.edit | name, changes, ssh_fingerprint?, cloud? or cloud_from?, crypt_password? | job |
| backup.del | name | {name} |
| backup.list | — | [job + last_run + next_run_s] |
| backup.status | name? | [{name, running, progress, queued, last_run, last_success, next_run_s}] |
| backup.run | name, wait? (true) | run result (wait) or {name, queued} |
| backup.cancel | name | {name, cancelled} |
| backup.generations | name, generation?, path? | [generation] or, with generation, [file] |
| backup.verify | name, generation? | {generation, ok, files, bytes, missing, changed, extra} |
| backup.restore | name, path, generation?, to? | {generation, path, files, bytes} |
| backup.key | — | {public_key} (for the other box's authorized_keys) |
| backup.disks | — | [disk] (block devices with a filesystem UUID) |
| backup.host_keys | host, port? (22) | [{type, fingerprint, key}]: the host keys it offers |
| backup.remotes | — | [{key, type, crypt, where}]: cloud remotes configured (no secrets) |
| backup.space | name | {name, reachable, free_bytes, total_bytes, detail, last_*} (space) |

`last_free_bytes`, `last_total_bytes`, `last_measured_s`: measured at the end of the job's
last good run (null if never), for a destination that cannot be measured now.

`cloud_from` (a key of `backup.remotes`): the job's cloud remote is made a copy of that
one (backend settings, crypt wrapper and passwords), instead of settings given in `cloud`;
the destination's `remote` and `crypt` are then those of the copy.

Runs go one at a time through a queue served by the daemon's periodic job `backup`
(every 30 s, poked by `backup.run`), which also starts scheduled runs: a cron fire time
passed since the last one handled (stored with the job; missed runs are not replayed one by
one; a new or changed schedule does not fire for the past).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from nasfs.backup import fire_times, runner
from nasfs.backup.fire_times import DIGEST, DIGEST_SENT
from nasfs.backup.model import (
    InvalidJob,
    Job,
    JobExists,
    JobNotFound,
    check_name,
    destination_from_json,
    job_from_json,
)
from nasfs.backup.onetouch import udev_running
from nasfs.backup.repository import VERIFY, JobRepository, RunRecord
from nasfs.backup.results import GOOD, BackupError, DestinationMissing
from nasfs.cron import next_fire, previous_fire
from nasfs.errors import BadParams
from nasfs.params import REQUIRED, param
from nasfs.units import size

log = logging.getLogger(__name__)

METHODS = ("backup.add", "backup.edit", "backup.del", "backup.list", "backup.status",
           "backup.run", "backup.cancel", "backup.generations", "backup.verify",
           "backup.restore", "backup.key", "backup.disks", "backup.space",
           "backup.host_keys", "backup.remotes")
Notify = Callable[[str, str, str], None]  # (kind, job, detail)


def _param(params: dict[str, Any], name: str, kind: type | tuple[type, ...],
           default: Any = REQUIRED) -> Any:
    """The one parameter check (nasfs.params), for whichever backup.* method asks."""
    return param(params, "backup.*", name, kind, default)


@dataclass
class _Waiter:
    done: trio.Event = field(default_factory=trio.Event)
    result: runner.RunResult | None = None


class BackupService:
    def __init__(self, repo: JobRepository, ctx: runner.Context,
                 share_exists: Callable[[str], bool], notify: Notify,
                 log_system: Callable[[str, str, str], Awaitable[None]],
                 setting: Callable[[str], Any]) -> None:
        self.repo = repo
        self.setting = setting  # a policy setting's value (blocking: worker thread)
        self.ctx = ctx
        self.share_exists = share_exists
        self.notify = notify
        self.log_system = log_system  # (operation, result, detail)
        self.running: dict[str, runner.RunState] = {}
        self.queue: deque[str] = deque()
        self.waiters: dict[str, list[_Waiter]] = {}
        # One-touch disk watches to tell when a USB run found its disk gone
        # (nasfs.backup.onetouch.DiskWatch.forget).
        self.disk_gone: list[Callable[[str], None]] = []
        self.poke: Callable[[], None] = lambda: None
        self.told_overdue: set[str] = set()  # jobs whose overdue notice went out
        self._abandoned = False

    # -- jobs ------------------------------------------------------------------------------

    def _source_checked(self, job: Job) -> None:
        """Before anything is prepared at the destination: a job refused for its source
        changes nothing (no host key pinned, no rclone remote written)."""
        if not self.share_exists(job.share):
            raise InvalidJob(f"there is no share {job.share!r} to back up")

    @staticmethod
    def _checked(job: Job) -> Job:
        if job.destination.kind == "ssh" and job.destination.host_key is None:
            raise InvalidJob("an ssh destination needs its pinned host key")
        return job

    def _prepare_destination(self, job: Job, params: dict[str, Any]) -> Job:
        """Pin the ssh host key, configure the cloud remote (blocking: worker thread)."""
        import dataclasses

        dest = job.destination
        if dest.kind == "usb":
            from nasfs.backup import usb

            assert dest.uuid is not None
            try:
                disk = usb.find(dest.uuid)
            except DestinationMissing:
                pass  # not plugged in now: checked again when a run mounts it
            else:
                try:
                    usb.refuse_in_use(disk)  # the system's own disk, an array member's ...
                except usb.DestinationInUse as exc:
                    raise InvalidJob(str(exc)) from exc
        if dest.kind == "ssh" and dest.host_key is None:
            from nasfs.backup.sshkeys import pin

            assert dest.host is not None
            key = pin(dest.host, dest.port, host_key=None,
                      fingerprint_=_param(params, "ssh_fingerprint", str, None))
            job = dataclasses.replace(job, destination=dataclasses.replace(dest, host_key=key))
        if dest.kind == "cloud":
            from nasfs.backup import cloud

            settings = _param(params, "cloud", dict, None)
            password = _param(params, "crypt_password", str, None)
            copy_of = _param(params, "cloud_from", str, None)
            if copy_of is not None:
                if settings is not None:
                    raise BadParams("give cloud settings or cloud_from, not both")
                backend, crypt = cloud.copy(check_name(copy_of), job.key)
                return dataclasses.replace(job, destination=dataclasses.replace(
                    dest, remote=backend, crypt=crypt))
            if settings is not None:
                if not all(isinstance(k, str) and isinstance(v, str)
                           for k, v in settings.items()):
                    raise BadParams("cloud settings are text keys and values")
                if dest.crypt and password is None:
                    raise InvalidJob("an encrypted cloud destination needs --crypt-password")
                assert dest.remote is not None
                cloud.configure(job.key, dest.remote, settings,
                                password if dest.crypt else None)
            elif not cloud.configured(job.key):
                raise InvalidJob("a cloud destination needs its rclone settings "
                                 "(--cloud-option KEY=VALUE ...)")
        return job

    async def add(self, params: dict[str, Any]) -> dict[str, Any]:
        body = dict(_param(params, "job", dict))
        body["created_ns"] = time.time_ns()
        if isinstance(body.get("destination"), dict):  # set by a rename only
            body["destination"] = {k: v for k, v in body["destination"].items()
                                   if k != "job_folder"}
        job = job_from_json(body)
        self._source_checked(job)
        if await trio.to_thread.run_sync(self._exists, job.name):
            # Before the destination is prepared: that would rewrite the existing job's
            # rclone remote (named by the job) and then be refused.
            raise JobExists(f"a backup job named {job.name!r} exists already")
        job = await trio.to_thread.run_sync(self._prepare_destination, job, params)
        self._checked(job)
        await trio.to_thread.run_sync(lambda: self.repo.put(job, new=True))
        return self._describe(job)

    def _exists(self, name: str) -> bool:
        try:
            self.repo.get(name)
        except JobNotFound:
            return False
        return True

    async def edit(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _param(params, "name", str)
        old = await trio.to_thread.run_sync(self.repo.get, name)
        body = old.to_json()
        changes = dict(_param(params, "changes", dict, {}))
        new_name = name
        if "name" in changes and changes["name"] != name:
            new_name = check_name(changes["name"])
            if name in self.running or name in self.queue:
                raise BackupError(f"backup job {name} is running or queued; rename it after")
        if "destination" in changes:
            new_dest = dict(changes["destination"])
            if (new_dest.get("kind") == "ssh" and "host_key" not in new_dest
                    and {k: new_dest.get(k) for k in ("host", "port")}
                    == {k: body["destination"].get(k) for k in ("host", "port")}):
                new_dest["host_key"] = body["destination"].get("host_key")
            changes = {**changes, "destination": new_dest}
        for key in ("retention", "options"):
            if key in changes and isinstance(changes[key], dict):
                changes[key] = {**body[key], **changes[key]}
        body.update(changes)
        # Its generations, remotes and snapshots keep the name they were first made under,
        # whatever it is called now (and whatever destination it is given).
        body["destination"] = {k: v for k, v in dict(body["destination"]).items()
                               if k != "job_folder"}
        if old.key != new_name:
            body["destination"]["job_folder"] = old.key
        job = job_from_json(body)
        self._source_checked(job)
        job = await trio.to_thread.run_sync(self._prepare_destination, job, params)
        self._checked(job)
        if new_name != name:
            await trio.to_thread.run_sync(self.repo.rename, name, job)
            if name in self.told_overdue:
                self.told_overdue.discard(name)
                self.told_overdue.add(new_name)
        else:
            await trio.to_thread.run_sync(lambda: self.repo.put(job, new=False))
        if old.destination.kind == "cloud" and job.destination.kind != "cloud":
            # Its rclone remote (named by the key, which the job keeps) reaches nothing the
            # job still uses; left, it would be listed by `backup remotes` for no job, and
            # be copied again by a later cloud job of this key. As `backup del` does.
            from nasfs.backup import cloud

            await trio.to_thread.run_sync(cloud.remove, old.key)
        return self._describe(job)

    async def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _param(params, "name", str)
        if name in self.running:
            raise BackupError(f"backup job {name} is running; cancel it first")
        job = await trio.to_thread.run_sync(self.repo.get, name)
        await trio.to_thread.run_sync(self.repo.delete, name)
        # Its base snapshot (and any a killed run left) would be kept for no one.
        for snapshot in self.ctx.snapshot_names():
            if runner.is_job_snapshot(job.key, snapshot):
                try:
                    await self.ctx.drop_snapshot(snapshot)
                except Exception:
                    log.warning("could not delete the snapshot %s of the deleted job %s",
                                snapshot, name, exc_info=True)
        if job.destination.kind == "cloud":
            from nasfs.backup import cloud

            await trio.to_thread.run_sync(cloud.remove, job.key)
        return {"name": name}

    def _next_run(self, job: Job) -> float | None:
        return None if job.schedule is None else next_fire(job.schedule, self.ctx.now())

    def _describe(self, job: Job) -> dict[str, Any]:
        return {**job.to_json(), "describe": {
            "destination": job.destination.describe(),
            "retention": job.retention.describe()}, "next_run_s": self._next_run(job)}

    async def jobs(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            out = []
            for job in self.repo.jobs():
                runs = self.repo.runs(job.name, limit=1)
                out.append({**self._describe(job),
                            "last_run": runs[0].to_json() if runs else None})
            return out

        return await trio.to_thread.run_sync(read)

    async def status(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        name = _param(params, "name", str, None)

        def read() -> list[dict[str, Any]]:
            jobs = [self.repo.get(name)] if name else self.repo.jobs()
            out = []
            for job in jobs:
                runs = self.repo.runs(job.name, limit=1)
                ok = self.repo.last_success(job.name)
                state = self.running.get(job.name)
                out.append({
                    "name": job.name, "source": job.source,
                    "destination": job.destination.describe(),
                    "running": state is not None,
                    "progress": state.progress.to_json() if state else None,
                    "generation": state.generation if state else None,
                    "queued": job.name in self.queue,
                    "last_run": runs[0].to_json() if runs else None,
                    "last_success": ok.to_json() if ok else None,
                    "next_run_s": self._next_run(job),
                    "one_touch": job.destination.kind == "usb" and udev_running()})
            return out

        return await trio.to_thread.run_sync(read)

    # -- runs ------------------------------------------------------------------------------

    async def run(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _param(params, "name", str)
        wait = _param(params, "wait", bool, True)
        await trio.to_thread.run_sync(self.repo.get, name)  # JobNotFound early
        waiter = _Waiter()
        if wait:
            self.waiters.setdefault(name, []).append(waiter)
        if name not in self.queue and name not in self.running:
            self.queue.append(name)
        self.poke()
        if not wait:
            return {"name": name, "queued": True}
        await waiter.done.wait()
        assert waiter.result is not None
        return {"name": name, **waiter.result.to_json()}

    async def cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _param(params, "name", str)
        if name in self.queue:
            self.queue.remove(name)
            self._wake(name, runner.RunResult("cancelled", "cancelled before it started"))
            return {"name": name, "cancelled": True}
        state = self.running.get(name)
        if state is None:
            raise BackupError(f"backup job {name} is not running")
        state.cancel.set()
        return {"name": name, "cancelled": True}

    def enqueue(self, name: str) -> bool:
        """Queue a run of `name` (not twice); whether it was queued now."""
        if name in self.queue or name in self.running:
            return False
        self.queue.append(name)
        self.poke()
        return True

    def usb_plugged(self, uuid: str) -> list[str]:
        """One-touch copy (blocking: the disk watch's thread): the USB jobs of the disk
        with filesystem `uuid`, to queue."""
        return [j.name for j in self.repo.jobs()
                if j.destination.kind == "usb" and (j.destination.uuid or "").lower()
                == uuid.lower()]

    def _wake(self, name: str, result: runner.RunResult) -> None:
        for w in self.waiters.pop(name, []):
            w.result = result
            w.done.set()

    async def tick(self) -> None:
        """The periodic job: note scheduled fire times, then run the queue in order."""
        if not self._abandoned:
            await trio.to_thread.run_sync(lambda: self.repo.abandon_running(time.time_ns()))
            self._abandoned = True
        jobs = await trio.to_thread.run_sync(self.repo.jobs)
        now = self.ctx.now()
        for job in jobs:
            if job.schedule is None:
                continue
            latest = previous_fire(job.schedule, now)
            last = await trio.to_thread.run_sync(self.repo.last_fire, job.name)
            if last is not None and latest <= last:
                continue
            await trio.to_thread.run_sync(self.repo.set_last_fire, job.name, latest)
            if last is not None and job.name not in self.queue:
                self.queue.append(job.name)
        await self._check_overdue(jobs, now)
        while self.queue and not self.ctx.stopping():
            await self.run_now(self.queue.popleft())
        by_key = {VERIFY + job.name: job for job in jobs}
        due, _ = await trio.to_thread.run_sync(
            fire_times.due, self.repo, {k: j.options.verify_schedule for k, j in by_key.items()},
            now, lambda n: n.startswith(VERIFY))
        for key in due:
            if self.ctx.stopping():
                break
            await self._scheduled_verify(by_key[key])
        await self._digest(now)

    async def _digest(self, now: float) -> None:
        """The summary of the runs since the last one (the first: of the last day), at the
        fire times of the setting backup.digest_schedule."""
        schedule = await trio.to_thread.run_sync(self.setting, "backup.digest_schedule")
        due, _ = await trio.to_thread.run_sync(
            fire_times.due, self.repo, {DIGEST: schedule or None}, now, lambda n: n == DIGEST)
        if not due:
            return
        # Since the last digest sent (kept in policy.db too: a restart does not lose it).
        stored = await trio.to_thread.run_sync(self.repo.fire_times)
        since = stored[DIGEST_SENT][1] if DIGEST_SENT in stored else now - 86400
        await trio.to_thread.run_sync(self.repo.set_fire_times, {DIGEST_SENT: ("", now)},
                                      set())
        runs = await trio.to_thread.run_sync(lambda: self.repo.runs(None, limit=10_000))
        text = digest_text(runs, since, now)
        await self.log_system("backup.digest", "OK", text.partition("\n")[0])
        self.notify("backup-digest", "", text)

    async def _scheduled_verify(self, job: Job) -> None:
        """The job's scheduled verify of its newest generation: told like a verify by hand
        (system log; a mismatch or an unreachable destination is a notice)."""
        if job.name in self.running:
            return  # it is being written; the next fire time verifies it
        try:
            await self._verify(job, None)
        except BackupError as exc:
            detail = f"{job.name} ({job.destination.describe()}): {exc}"
            await self.log_system("backup.verify", exc.result, detail)
            self.notify("backup-verify-failed", job.name,
                        f"scheduled verify could not run: {detail}")

    async def _check_overdue(self, jobs: list[Job], now: float) -> None:
        from nasfs.backup.overdue import overdue

        for job in jobs:
            if job.schedule is None or job.name in self.told_overdue:
                continue
            ok = await trio.to_thread.run_sync(self.repo.last_success, job.name)
            last = None if ok is None or ok.finished_ns is None else ok.finished_ns / 1e9
            if overdue(job.schedule, last, job.created_ns / 1e9, now):
                self.told_overdue.add(job.name)
                when = "never" if last is None else time.strftime(
                    "%Y-%m-%d %H:%M UTC", time.gmtime(last))
                self.notify("backup-overdue", job.name,
                            f"{job.name}: no successful backup since {when} although it is "
                            f"scheduled '{job.schedule}' (UTC)")

    async def run_now(self, name: str) -> runner.RunResult:
        try:
            job = await trio.to_thread.run_sync(self.repo.get, name)
        except JobNotFound as exc:
            result = runner.RunResult("failed", str(exc))
            self._wake(name, result)
            return result
        state = runner.RunState(name)
        self.running[name] = state
        run_id = await trio.to_thread.run_sync(self.repo.start_run, name, time.time_ns())
        try:
            result = await runner.run_job(job, self.ctx, state)
        except Exception as exc:  # a bug: still recorded and told, never silent
            log.exception("backup run of %s failed unexpectedly", name)
            result = runner.RunResult("failed", f"unexpected error: {exc!r}")
        finally:
            self.running.pop(name, None)
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: self.repo.finish_run(
                run_id, time.time_ns(), result.result, generation=result.generation,
                files=result.files, size=result.bytes, sent=result.sent_bytes,
                detail=result.detail))
            await self._tell(job, result)
        if job.destination.kind == "usb" and result.result == "destination_missing":
            for forget in list(self.disk_gone):  # its next plug starts the job again
                forget(job.destination.uuid or "")
        self._wake(name, result)
        return result

    async def _tell(self, job: Job, result: runner.RunResult) -> None:
        if result.result in GOOD:
            self.told_overdue.discard(job.name)
            detail = (f"{job.name}: generation {result.generation}, {result.files} files, "
                      f"{result.bytes} bytes ({result.sent_bytes} copied)")
            if result.removed:
                detail += f"; removed {', '.join(result.removed)}"
            await self.log_system("backup.finished", "OK", detail)
            self.notify("backup-finished", job.name, detail)
            await self._check_space(job, result)
            if result.removable:
                self.notify("backup-disk-removable", job.name, result.removable)
        else:
            detail = f"{job.name} ({job.destination.describe()}): {result.detail}"
            await self.log_system("backup.failed", result.result, detail)
            self.notify("backup-failed", job.name, f"{result.result}: {detail}")

    async def _check_space(self, job: Job, result: runner.RunResult) -> None:
        """After a good run: a destination fuller than backup.space_warn_percent is a
        notice (and a system-log row), each run while it stays so."""
        if result.space is None:
            return
        free, total = result.space
        # Kept for `backup.space` while the destination cannot be measured (a USB disk
        # not plugged in, or plugged in but not mounted).
        await trio.to_thread.run_sync(self.repo.set_last_space, job.name, free, total,
                                      self.ctx.now())
        limit = await trio.to_thread.run_sync(self.setting, "backup.space_warn_percent")
        used = 100.0 * (total - free) / total if total else 0.0
        if not limit or used < float(limit):
            return
        detail = (f"{job.name}: the destination {job.destination.describe()} is "
                  f"{used:.0f}% full ({size(free)} free of {size(total)}) after generation "
                  f"{result.generation}")
        await self.log_system("backup.space", "warning", detail)
        self.notify("backup-space-low", job.name, detail)

    # -- destination reads -----------------------------------------------------------------

    async def generations(self, params: dict[str, Any]) -> Any:
        job = await trio.to_thread.run_sync(self.repo.get, _param(params, "name", str))
        gen = _param(params, "generation", str, None)
        if gen is None and params.get("path") is None:
            return await trio.to_thread.run_sync(runner.list_generations, job, self.ctx)
        return await trio.to_thread.run_sync(runner.browse, job, self.ctx, gen,
                                             _param(params, "path", str, ""))

    async def verify(self, params: dict[str, Any]) -> dict[str, Any]:
        job = await trio.to_thread.run_sync(self.repo.get, _param(params, "name", str))
        if job.name in self.running:
            raise BackupError(f"backup job {job.name} is running; verify after it")
        return await self._verify(job, _param(params, "generation", str, None))

    async def _verify(self, job: Job, generation: str | None) -> dict[str, Any]:
        report: dict[str, Any] = await trio.to_thread.run_sync(
            runner.verify, job, self.ctx, generation)
        if not report["ok"]:
            self.notify("backup-verify-failed", job.name,
                        f"{job.name} generation {report['generation']}: "
                        f"{len(report['changed'])} changed, {len(report['missing'])} missing")
        await self.log_system("backup.verify", "OK" if report["ok"] else "mismatch",
                              f"{job.name} {report['generation']}")
        return report

    async def restore(self, params: dict[str, Any]) -> dict[str, Any]:
        job = await trio.to_thread.run_sync(self.repo.get, _param(params, "name", str))
        if job.name in self.running and job.destination.kind == "usb":
            raise BackupError(f"backup job {job.name} is running; restore after it")
        done: dict[str, Any] = await trio.to_thread.run_sync(
            runner.restore, job, self.ctx, _param(params, "generation", str, None),
            _param(params, "path", str, ""), _param(params, "to", str, None))
        await self.log_system("backup.restore", "OK", f"{job.name} {done['generation']} "
                                                      f"→ {done['path']}")
        return done

    async def key(self, params: dict[str, Any]) -> dict[str, Any]:
        from nasfs.backup.sshkeys import public_key

        return {"public_key": await trio.to_thread.run_sync(public_key)}

    async def disks(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        from nasfs.backup.usb import disks

        found = await trio.to_thread.run_sync(disks)
        return [{**d.to_json(), "describe": d.describe()} for d in found]

    async def host_keys(self, params: dict[str, Any]) -> list[dict[str, str]]:
        """The host keys a box offers, with their fingerprints, to be compared with what
        that box shows before one is pinned (backup.add's ssh_fingerprint)."""
        from nasfs.backup.sshkeys import fingerprint, scan

        port = _param(params, "port", int, 22)
        dest = destination_from_json({"kind": "ssh", "host": _param(params, "host", str),
                                      "port": port, "path": "/"})  # the host and port checked
        assert dest.host is not None
        keys = await trio.to_thread.run_sync(scan, dest.host, dest.port)
        return [{"type": k.split()[0], "fingerprint": fingerprint(k), "key": k} for k in keys]

    async def remotes(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        from nasfs.backup import cloud

        return await trio.to_thread.run_sync(cloud.remotes)

    async def space(self, params: dict[str, Any]) -> dict[str, Any]:
        from nasfs.backup.space import destination_space

        job = await trio.to_thread.run_sync(self.repo.get, _param(params, "name", str))
        found = await trio.to_thread.run_sync(destination_space, job)
        last = await trio.to_thread.run_sync(self.repo.last_space, job.name)
        free, total, at_s = last if last is not None else (None, None, None)
        return {"name": job.name, **found.to_json(), "last_free_bytes": free,
                "last_total_bytes": total, "last_measured_s": at_s}

    def methods(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        return {"backup.add": self.add, "backup.edit": self.edit, "backup.del": self.delete,
                "backup.list": self.jobs, "backup.status": self.status,
                "backup.run": self.run, "backup.cancel": self.cancel,
                "backup.generations": self.generations, "backup.verify": self.verify,
                "backup.restore": self.restore, "backup.key": self.key,
                "backup.disks": self.disks, "backup.space": self.space,
                "backup.host_keys": self.host_keys, "backup.remotes": self.remotes}


def digest_text(runs: list[RunRecord], since: float, now: float) -> str:
    """The digest's words: a first line that sums up, then one line per job."""
    def when(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))

    done = sorted((r for r in runs if r.finished_ns is not None
                   and since * 1e9 <= r.finished_ns < now * 1e9), key=lambda r: r.id)
    good = [r for r in done if r.result in GOOD]
    head = (f"{len(good)} backup{'s' if len(good) != 1 else ''} succeeded, "
            f"{len(done) - len(good)} did not, from {when(since)} to {when(now)}")
    lines = []
    for job in sorted({r.job for r in done}):
        mine = [r for r in done if r.job == job]
        ok = [r for r in mine if r.result in GOOD]
        newest = max(ok, key=lambda r: r.finished_ns or 0) if ok else None
        line = f"- {job}: {len(ok)} of {len(mine)} runs good"
        if newest is not None:
            line += f", newest generation {newest.generation}"
        bad = [r for r in mine if r.result not in GOOD]
        if bad:
            line += f"; last failure: {bad[-1].result} ({bad[-1].detail})"
        lines.append(line)
    return head + "\n" + ("\n".join(lines) if lines else "No backup ran.")
