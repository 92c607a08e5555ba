"""Backup jobs and run history in policy.db (tables `backup_job`, `backup_run`, migration
m003 in nasfs.policy.schema): the only module that writes SQL for them.

Every method takes the policy lock and commits durably itself (jobs are rare changes an
administrator must not lose); call it from a worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasfs.backup.model import Job, JobExists, JobNotFound, job_from_json

if TYPE_CHECKING:
    from nasfs.policy.service import PolicyService


@dataclass(frozen=True)
class RunRecord:
    id: int
    job: str
    started_ns: int
    finished_ns: int | None
    result: str
    generation: str | None
    files: int | None
    bytes: int | None
    sent_bytes: int | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

VERIFY = "verify/"  # backup_fire names of scheduled verifies: VERIFY + job name


class JobRepository:
    def __init__(self, policy: PolicyService) -> None:
        self.policy = policy
        self.db = policy.policy_db

    @staticmethod
    def _job(r: Any) -> Job:
        return job_from_json({
            "name": r["name"], "source": r["source"],
            "destination": json.loads(r["destination"]), "schedule": r["schedule"],
            "retention": json.loads(r["retention"]), "options": json.loads(r["options"]),
            "created_ns": r["created_ns"]})

    def jobs(self) -> list[Job]:
        with self.policy.policy_lock:
            return [self._job(r) for r in self.db.query("SELECT * FROM backup_job ORDER BY name")]

    def get(self, name: str) -> Job:
        with self.policy.policy_lock:
            r = self.db.query_one("SELECT * FROM backup_job WHERE name = ?", (name,))
        if r is None:
            raise JobNotFound(f"there is no backup job named {name!r}")
        return self._job(r)

    @staticmethod
    def _values(job: Job) -> tuple[Any, ...]:
        return (json.dumps(job.destination.to_json()), job.source, job.schedule,
                json.dumps(job.retention.to_json()), json.dumps(job.options.to_json()))

    def put(self, job: Job, *, new: bool) -> None:
        values = self._values(job)
        with self.policy.policy_lock, self.db.transaction(durable=True):
            exists = self.db.query_one("SELECT 1 FROM backup_job WHERE name = ?", (job.name,))
            if new and exists:
                raise JobExists(f"a backup job named {job.name!r} exists already")
            if not new and not exists:
                raise JobNotFound(f"there is no backup job named {job.name!r}")
            if new:
                self.db.execute("INSERT INTO backup_job (name, destination, source, schedule, "
                                "retention, options, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (job.name, *values, job.created_ns))
            else:
                # A changed schedule starts afresh: it does not fire for the past.
                self.db.execute("UPDATE backup_job SET destination = ?, source = ?, "
                                "last_fire_s = CASE WHEN schedule IS ? THEN last_fire_s "
                                "ELSE NULL END, schedule = ?, retention = ?, options = ? "
                                "WHERE name = ?",
                                (values[0], values[1], values[2], *values[2:], job.name))

    def rename(self, old: str, job: Job) -> None:
        """Rename job `old` to `job.name` and store `job` (its other changes) with it; its
        run history and scheduler state go with it."""
        with self.policy.policy_lock, self.db.transaction(durable=True):
            if self.db.query_one("SELECT 1 FROM backup_job WHERE name = ?", (job.name,)):
                raise JobExists(f"a backup job named {job.name!r} exists already")
            cur = self.db.execute("UPDATE backup_job SET name = ?, destination = ?, "
                                  "source = ?, last_fire_s = CASE WHEN schedule IS ? "
                                  "THEN last_fire_s ELSE NULL END, schedule = ?, "
                                  "retention = ?, options = ? WHERE name = ?",
                                  (job.name, *self._values(job)[:3], *self._values(job)[2:],
                                   old))
            if cur.rowcount == 0:
                raise JobNotFound(f"there is no backup job named {old!r}")
            self.db.execute("UPDATE backup_run SET job = ? WHERE job = ?", (job.name, old))
            self.db.execute("UPDATE backup_fire SET name = ? WHERE name = ?",
                            (VERIFY + job.name, VERIFY + old))

    def delete(self, name: str) -> None:
        with self.policy.policy_lock, self.db.transaction(durable=True):
            cur = self.db.execute("DELETE FROM backup_job WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise JobNotFound(f"there is no backup job named {name!r}")
            self.db.execute("DELETE FROM backup_fire WHERE name = ?", (VERIFY + name,))

    def last_fire(self, name: str) -> float | None:
        with self.policy.policy_lock:
            r = self.db.query_one("SELECT last_fire_s FROM backup_job WHERE name = ?", (name,))
        return None if r is None or r[0] is None else float(r[0])

    def set_last_fire(self, name: str, fire_s: float) -> None:
        with self.policy.policy_lock, self.db.transaction(durable=True):
            self.db.execute("UPDATE backup_job SET last_fire_s = ? WHERE name = ?",
                            (fire_s, name))

    def fire_times(self) -> dict[str, tuple[str, float]]:
        """name ('verify/JOB', 'digest') → (schedule, newest fire time handled)."""
        with self.policy.policy_lock:
            rows = self.db.query("SELECT name, schedule, fire_s FROM backup_fire")
        return {r[0]: (r[1], float(r[2])) for r in rows}

    def set_fire_times(self, fired: dict[str, tuple[str, float]], gone: set[str]) -> None:
        """Store the fire times handled in `fired`, forget those of `gone`, in one commit."""
        if not fired and not gone:
            return
        with self.policy.policy_lock, self.db.transaction(durable=True):
            for name, (schedule, fire_s) in fired.items():
                self.db.execute("INSERT INTO backup_fire (name, schedule, fire_s) "
                                "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                                "schedule = excluded.schedule, fire_s = excluded.fire_s",
                                (name, schedule, fire_s))
            for name in gone:
                self.db.execute("DELETE FROM backup_fire WHERE name = ?", (name,))

    def set_last_space(self, name: str, free: int, total: int, at_s: float) -> None:
        text = json.dumps({"free_bytes": free, "total_bytes": total, "at_s": at_s})
        with self.policy.policy_lock, self.db.transaction(durable=True):
            self.db.execute("UPDATE backup_job SET last_space = ? WHERE name = ?",
                            (text, name))

    def last_space(self, name: str) -> tuple[int, int, float] | None:
        """(free, total, when) measured at the end of the job's last good run."""
        with self.policy.policy_lock:
            r = self.db.query_one("SELECT last_space FROM backup_job WHERE name = ?",
                                  (name,))
        if r is None or r[0] is None:
            return None
        d = json.loads(r[0])
        return int(d["free_bytes"]), int(d["total_bytes"]), float(d["at_s"])

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, job: str, started_ns: int) -> int:
        with self.policy.policy_lock, self.db.transaction(durable=True):
            cur = self.db.execute("INSERT INTO backup_run (job, started_ns, result) "
                                  "VALUES (?, ?, 'running')", (job, started_ns))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, finished_ns: int, result: str, *,
                   generation: str | None, files: int | None, size: int | None,
                   sent: int | None, detail: str | None) -> None:
        with self.policy.policy_lock, self.db.transaction(durable=True):
            self.db.execute("UPDATE backup_run SET finished_ns = ?, result = ?, generation = ?, "
                            "files = ?, bytes = ?, sent_bytes = ?, detail = ? WHERE id = ?",
                            (finished_ns, result, generation, files, size, sent, detail,
                             run_id))

    def abandon_running(self, now_ns: int) -> None:
        """Runs left 'running' by a daemon that died: they were interrupted."""
        with self.policy.policy_lock, self.db.transaction(durable=True):
            self.db.execute("UPDATE backup_run SET finished_ns = ?, result = 'interrupted', "
                            "detail = 'the daemon stopped during the run; the next run "
                            "resumes it' WHERE result = 'running'", (now_ns,))

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        sql = "SELECT * FROM backup_run"
        params: tuple[Any, ...] = ()
        if job is not None:
            sql += " WHERE job = ?"
            params = (job,)
        with self.policy.policy_lock:
            rows = self.db.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [RunRecord(r["id"], r["job"], r["started_ns"], r["finished_ns"], r["result"],
                          r["generation"], r["files"], r["bytes"], r["sent_bytes"],
                          r["detail"]) for r in rows]

    def last_success(self, job: str) -> RunRecord | None:
        with self.policy.policy_lock:
            r = self.db.query_one("SELECT * FROM backup_run WHERE job = ? AND result IN "
                                  "('ok', 'vanished') ORDER BY id DESC LIMIT 1", (job,))
        if r is None:
            return None
        return RunRecord(r["id"], r["job"], r["started_ns"], r["finished_ns"], r["result"],
                         r["generation"], r["files"], r["bytes"], r["sent_bytes"], r["detail"])
