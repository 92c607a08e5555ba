"""Backups: the jobs with their last result, next run and the room at their destination; a
progress bar for a running backup; back up now, stop a running one; a job's generations,
the files of one (folder by folder), restore a file or folder, verify a generation; add,
edit and delete jobs (the form: console.screens.backup_form).

Methods: backup.list/status/space/run/cancel/generations/verify/restore, and for the job
form backup.add/edit/del/disks/remotes/host_keys (nasfs.client.backup). The list and the
progress are read again every second while the screen is shown (cheap: the daemon's own
records); the destination's space when the screen is opened, every 30 s and after a run
ends (it may reach another box or the cloud); generations only on G (listing them mounts a
USB disk); the disks or cloud remotes when the job form opens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Label, ProgressBar, Static

from console import backup_words as words
from console import format as fmt
from console import wording
from console.screens import backup_form as form
from console.screens.form_dialog import Field, FormDialog, Refusal
from console.screens.policy_base import PolicyScreen
from nasfs.client import NasfsError
from nasfs.client.backup import (
    BackupClient,
    BackupJob,
    BackupStatus,
    DestinationSpace,
    Generation,
    GenerationFile,
    Restored,
    VerifyReport,
)

SPACE_EVERY_S = 30.0
POLL_S = 1.0


@dataclass
class BackupView:
    jobs: list[BackupJob] = field(default_factory=list)
    status: dict[str, BackupStatus] = field(default_factory=dict)
    space: dict[str, DestinationSpace] = field(default_factory=dict)  # empty: not re-read


@dataclass(frozen=True)
class Generations:
    job: str
    items: list[Generation]


@dataclass(frozen=True)
class Files:
    job: str
    generation: str
    items: list[GenerationFile]


@dataclass(frozen=True)
class Entry:
    """One line of a generation's folder: a subfolder or a file."""

    name: str
    path: str  # inside the job's source
    folder: bool
    size: int
    files: int = 1


def folder_entries(files: list[GenerationFile], folder: str) -> list[Entry]:
    """The subfolders (with their file count and size) and files directly in `folder`."""
    prefix = f"{folder}/" if folder else ""
    folders: dict[str, list[int]] = {}
    out: list[Entry] = []
    for f in files:
        if not f.path.startswith(prefix):
            continue
        rest = f.path[len(prefix):]
        head, slash, _ = rest.partition("/")
        if slash:
            count = folders.setdefault(head, [0, 0])
            count[0] += 1
            count[1] += f.size
        else:
            out.append(Entry(rest, f.path, False, f.size))
    dirs = [Entry(name + "/", prefix + name, True, n[1], n[0])
            for name, n in sorted(folders.items())]
    return dirs + sorted(out, key=lambda e: e.name)


class BackupsScreen(PolicyScreen):
    SCREEN_NAME = "backups"
    DEFAULT_CSS = """
    BackupsScreen #jobs { max-height: 7; }
    /* The generations or files take the lines left, and scroll in them (at 80x24 too). */
    BackupsScreen #browse { height: 1fr; min-height: 4; max-height: 100%; }
    BackupsScreen #run-bar Bar { width: 1fr; }
    BackupsScreen #run-bar { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "run", "Back up now"),
        Binding("c", "cancel_run", "Stop backup"),
        Binding("g", "generations", "Generations"),
        Binding("r", "restore", "Restore"),
        Binding("v", "verify", "Verify"),
        Binding("backspace", "up", "Up", key_display="Bksp"),
        Binding("a", "add", "Add job"),
        Binding("e", "edit", "Edit job"),
        Binding("d", "delete", "Delete job"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = BackupView()
        self.spaces: dict[str, DestinationSpace] = {}
        self.space_read_at = 0.0  # monotonic; 0: read at the next load
        self.seen_runs: dict[str, int | None] = {}  # job → id of its last run, to see ends
        self.generations: Generations | None = None
        self.files: Files | None = None
        self.folder = ""  # inside the browsed generation
        self.entries: list[Entry] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Static("", id="screen-message")
            yield DataTable(id="jobs", cursor_type="row")
            yield Static("", id="job-detail")
            yield ProgressBar(total=100, show_eta=False, id="run-bar")
            yield Static("", id="run-numbers")
            yield Label("Generations: press G to list the highlighted job's", id="browse-title",
                        classes="section-title")
            yield DataTable(id="browse", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#jobs", DataTable).add_columns(
            "Job", "Last result", "Next run", "Destination space")
        super().on_mount()
        self.query_one("#run-bar", ProgressBar).display = False
        self.query_one("#jobs", DataTable).focus()
        self.set_interval(POLL_S, self._poll)

    def _poll(self) -> None:
        if self.is_current and self.console.state.daemon_running:
            self.load()

    def on_screen_resume(self) -> None:
        self.space_read_at = 0.0  # read the space again when the screen is shown
        super().on_screen_resume()

    def with_client(self, action: Any) -> Any:
        return self.console.backend.backups(action)

    def fetch(self, client: BackupClient) -> Any:
        jobs = client.jobs()
        status = {s.name: s for s in client.status()}
        runs = {j.name: j.last_run.id if j.last_run else None for j in jobs}
        space: dict[str, DestinationSpace] = {}
        if runs != self.seen_runs or time.monotonic() - self.space_read_at >= SPACE_EVERY_S:
            # Noted before asking: a destination slow to answer (a box that is off) must
            # not be asked again by every poll that starts meanwhile.
            self.seen_runs, self.space_read_at = runs, time.monotonic()
            space = {j.name: client.space(j.name) for j in jobs}
        return BackupView(jobs, status, space)

    # -- drawing ------------------------------------------------------------------------

    def show_data(self, data: Any) -> None:
        self.view = data
        if self.view.space:
            self.spaces = self.view.space
        table = self.query_one("#jobs", DataTable)
        row = table.cursor_row
        table.clear()
        for job in self.view.jobs:
            status = self.view.status.get(job.name)
            if status is not None and status.running:
                last = "RUNNING"
            elif status is not None and status.queued:
                last = "waiting to start"
            else:
                last = words.result_word(job.last_run)
            table.add_row(job.name, last, words.next_run_words(job.next_run_s),
                          words.space_words(self.spaces.get(job.name)), key=job.name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        if not self.view.jobs:
            self.hint("No backup jobs yet: press A to add one.")
        self._show_job()

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self) -> None:
        self.action_generations()

    @on(DataTable.RowHighlighted, "#jobs")
    def _job_highlighted(self) -> None:
        self._show_job()

    def _show_job(self) -> None:
        job = self._current()
        detail = self.query_one("#job-detail", Static)
        if job is None:
            detail.update("")
            self._show_progress(None, None)
            return
        space = self.spaces.get(job.name)
        where = job.destination_words
        if space is not None and space.detail and not space.reachable:
            where += f" ({space.detail})"
        status = self.view.status.get(job.name)
        detail.update(f"{job.name}: {job.source} → {where}; {job.retention_words}.\n"
                      + words.result_sentence(job.last_run)
                      + words.usb_note(job, status))
        running = status if status is not None and status.running else next(
            (s for s in self.view.status.values() if s.running), None)
        self._show_progress(running, status)

    def _show_progress(self, running: BackupStatus | None, current: BackupStatus | None) -> None:
        bar = self.query_one("#run-bar", ProgressBar)
        numbers = self.query_one("#run-numbers", Static)
        if running is None:
            bar.display = False
            numbers.update("Waiting to start (another backup runs first)."
                           if current is not None and current.queued else "")
            return
        bar.display = True
        p = running.progress
        if p is None or p.phase != "copy" or not p.total_bytes:
            bar.update(total=None)
        else:
            bar.update(total=p.total_bytes, progress=min(p.bytes_done, p.total_bytes))
        said = words.progress_words(p) if p is not None else "starting"
        numbers.update(f"Backing up {running.name}: {said}")

    def _current(self) -> BackupJob | None:
        row = self.query_one("#jobs", DataTable).cursor_row
        jobs = self.view.jobs
        return jobs[row] if jobs and 0 <= row < len(jobs) else None

    # -- run and stop -------------------------------------------------------------------

    def action_run(self) -> None:
        job = self._current()
        if job is None:
            return
        name = job.name
        # Decided at the key press: a status read while the request is under way may
        # already show this very backup running.
        other = next((s.name for s in self.view.status.values()
                      if s.running and s.name != name), None)
        self.act(f"Backup of {name} started." if other is None else
                 f"Backup of {name} will start after the backup of {other} running now.",
                 lambda client: client.run(name, wait=False))

    def action_cancel_run(self) -> None:
        job = self._current()
        status = self.view.status.get(job.name) if job is not None else None
        if job is None or status is None or not (status.running or status.queued):
            self.say("The highlighted job is not running.")
            return
        name = job.name
        self.confirm_then_act(
            f"Stop the backup of {name}?",
            "What was copied so far stays at the destination and the next run continues "
            "from there. This run makes no new generation; the earlier ones are untouched.",
            f"Backup of {name} stopped.", lambda client: client.cancel(name))

    # -- generations, files, restore, verify --------------------------------------------

    def action_generations(self) -> None:
        job = self._current()
        if job is None:
            return
        name = job.name
        self.act(f"Generations of {name} read from its destination.",
                 lambda client: Generations(name, client.generations(name)))

    def after_action(self, result: Any) -> None:
        if isinstance(result, Generations):
            self.generations, self.files, self.folder = result, None, ""
            self._show_generations()
        elif isinstance(result, Files):
            self.files, self.folder = result, ""
            self._show_files()
        elif isinstance(result, Restored):
            self.say(f"Restored {result.files} file(s), {fmt.size(result.bytes)}, from "
                     f"{result.generation} to {result.path}.")
        elif isinstance(result, VerifyReport):
            self._show_verified(result)

    def _show_generations(self) -> None:
        assert self.generations is not None
        gens = self.generations.items
        table = self.query_one("#browse", DataTable)
        table.clear(columns=True)
        table.add_columns("Generation", "Taken", "Files", "Size")
        for g in gens:
            if g.incomplete:
                table.add_row(g.name, "unfinished", "", "the next run continues it")
            else:
                table.add_row(g.name, fmt.when((g.time_s or 0) * 1e9), str(g.files),
                              fmt.size(g.bytes or 0))
        self.query_one("#browse-title", Label).update(
            f"Generations of {self.generations.job}: {sum(not g.incomplete for g in gens)} "
            "(Enter shows the files, V verifies, R restores)")
        if not gens:
            self.say(f"{self.generations.job} has no generation yet: press B to back up now.")
        table.focus()

    def _generation(self) -> Generation | None:
        if self.generations is None or self.files is not None:
            return None
        row = self.query_one("#browse", DataTable).cursor_row
        gens = self.generations.items
        return gens[row] if gens and 0 <= row < len(gens) else None

    @on(DataTable.RowSelected, "#browse")
    def _browse_selected(self) -> None:
        if self.files is None:
            gen = self._generation()
            if gen is None or gen.incomplete or self.generations is None:
                return
            job, name = self.generations.job, gen.name
            self.act(f"Files of {name}.", lambda client: Files(job, name,
                                                               client.files(job, name)))
            return
        entry = self._entry()
        if entry is not None and entry.folder:
            self.folder = entry.path
            self._show_files()

    def _show_files(self) -> None:
        assert self.files is not None
        self.entries = folder_entries(self.files.items, self.folder)
        table = self.query_one("#browse", DataTable)
        table.clear(columns=True)
        mtimes = {f.path: f.mtime_ns for f in self.files.items}
        rows = []
        for e in self.entries:
            changed = "" if e.folder else fmt.when(mtimes.get(e.path, 0))
            size = f"{fmt.size(e.size)} in {e.files} files" if e.folder else fmt.size(e.size)
            rows.append((fmt.short_path(e.name, 44), size, changed))
        # Widths given, not left to the table: after clear(columns=True) it sometimes drew
        # the new rows at the headers' widths ("repo" for "reports/") until a later refresh.
        for i, header in enumerate(("Name", "Size", "Changed")):
            table.add_column(header, width=max([len(header), *(len(r[i]) for r in rows)]))
        table.add_rows(rows)
        where = f"/{self.folder}" if self.folder else "/"
        self.query_one("#browse-title", Label).update(
            f"{self.files.generation} {fmt.short_path(where, 30)}: Enter opens a folder, "
            "Bksp goes up, R restores")
        table.focus()

    def _entry(self) -> Entry | None:
        if self.files is None:
            return None
        row = self.query_one("#browse", DataTable).cursor_row
        return self.entries[row] if self.entries and 0 <= row < len(self.entries) else None

    def action_up(self) -> None:
        if self.files is None:
            return
        if not self.folder:
            self.files = None
            self._show_generations()
            return
        self.folder = self.folder.rpartition("/")[0]
        self._show_files()

    def action_restore(self) -> None:
        job = self._current()
        if self.generations is not None:
            job = next((j for j in self.view.jobs if j.name == self.generations.job), job)
        if job is None:
            return
        gen = self.files.generation if self.files is not None else (
            g.name if (g := self._generation()) is not None and not g.incomplete else "")
        entry = self._entry()
        path = entry.path if entry is not None else (self.folder or "")
        name = job.name
        self.app.push_screen(FormDialog(f"Restore from the backup {name}", [
            Field("path", "File or folder", value=path, placeholder="reports/q1.txt",
                  required=False),
            Field("generation", "Generation (empty: newest)", value=gen, required=False),
            Field("to", "Restore as (empty: where it was)", required=False,
                  placeholder=f"{job.source}/restored"),
        ], f"The path is inside {job.source}; empty restores all of it. Nothing is "
           "overwritten: if it is still there, the copy goes beside it as 'NAME (restored "
           "GENERATION)'. Ctrl+S: restore, Escape: cancel"),
            lambda values: self._restore(name, values))

    def _restore(self, name: str, values: dict[str, str] | None) -> None:
        if values is None:
            return
        path, gen, to = values["path"], values["generation"] or None, values["to"] or None
        self.act(f"Restoring {path or 'everything'} from {name}...",
                 lambda client: client.restore(name, path, gen, to))

    def action_verify(self) -> None:
        job = self._current()
        if self.generations is not None:
            job = next((j for j in self.view.jobs if j.name == self.generations.job), job)
        if job is None:
            return
        gen = self.files.generation if self.files is not None else (
            g.name if (g := self._generation()) is not None and not g.incomplete else None)
        name = job.name
        self.say(f"Reading {gen or 'the newest generation'} of {name} back from its "
                 "destination...")
        self.act("Verified.", lambda client: client.verify(name, gen))

    def _show_verified(self, report: VerifyReport) -> None:
        if report.ok:
            self.say(f"{report.generation}: all {report.files} files "
                     f"({fmt.size(report.bytes)}) read back and match what was copied.")
            return
        found = [f"{len(paths)} {what} ({', '.join(paths[:2])})" for what, paths in
                 (("changed", report.changed), ("missing", report.missing),
                  ("unexpected", report.extra)) if paths]
        self.say(f"{report.generation} does NOT match what was copied: {'; '.join(found)}. "
                 "Back up again to make a good generation.", error=True)

    # -- add, edit, delete jobs ---------------------------------------------------------

    def action_add(self) -> None:
        self._ask_kind(None)

    def action_edit(self) -> None:
        job = self._current()
        if job is None:
            self.say("No job to edit: press A to add one.")
            return
        self._ask_kind(job)

    def _ask_kind(self, job: BackupJob | None) -> None:
        """First step: where the job goes (the fields that follow depend on it)."""
        current = form.KINDS[job.destination.kind] if job is not None else ""
        title = f"Edit the backup job {job.name}" if job is not None else "Add a backup job"

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                self._read_choices(form.KIND_OF[values["kind"]], job)

        self.app.push_screen(FormDialog(title, [
            Field("kind", "Back up to", kind="choice", choices=tuple(form.KINDS.values()),
                  value=current)], "Enter: next   Escape: cancel"), chosen)

    @work(thread=True, group="act")
    def _read_choices(self, kind: str, job: BackupJob | None) -> None:
        """The disks or cloud remotes the destination field offers, read from the daemon."""
        try:
            if kind == "usb":
                choices = form.Choices(disks=self.with_client(lambda c: c.disks()))
            elif kind == "cloud":
                choices = form.Choices(remotes=self.with_client(lambda c: c.remotes()))
            else:
                choices = form.Choices()
        except NasfsError as exc:
            self.app.call_from_thread(self.say, wording.explain(exc), True)
            return
        self.app.call_from_thread(self._job_form, kind, job, choices)

    def _job_form(self, kind: str, job: BackupJob | None, choices: form.Choices) -> None:
        if kind == "usb" and not choices.disks and job is None:
            self.say("No disk with a filesystem is plugged in: plug the USB disk in, then "
                     "press A again.", error=True)
            return
        if kind == "cloud" and not choices.remotes:
            self.say("No cloud remote is configured yet: the first one is made with 'nasfs "
                     "backup add JOB --cloud TYPE --cloud-option ...' (docs/backup.md); then "
                     "it can be chosen here.", error=True)
            return
        fields = form.job_fields(kind, job, choices)

        def action_for(values: dict[str, str]) -> Any:
            request = form.job_request(kind, values, job, choices)

            def act(client: BackupClient) -> Any:
                if request.scan is not None:
                    host, port = request.scan
                    text, fingerprint = form.pin_question(host, client.host_keys(host, port))
                    return Refusal(text, {"fingerprint": fingerprint})
                if job is None:
                    return client.add(request.body, **request.extra)
                return client.edit(job.name, request.body, **request.extra)

            return act

        if job is None:
            title, done = f"Add a backup job to {form.KINDS[kind]}", "added"
        else:
            title, done = f"Edit the backup job {job.name}", "changed"
        self.ask_then_act(
            title, fields, lambda values: f"Backup job {values['name']} {done}.",
            action_for, check=lambda values: form.check_values(kind, values),
            help_text="Tab: next field   Ctrl+S: save   Escape: cancel (nothing changes)")

    def action_delete(self) -> None:
        job = self._current()
        if job is None:
            return
        name = job.name
        self.confirm_then_act(f"Delete the backup job {name}?", form.delete_consequence(job),
                              f"Backup job {name} deleted; its generations stay at the "
                              "destination.", lambda client: client.delete(name))
