"""A running scrub or rebuild: a progress bar with the rate and the time left.

Fed by `console.state.JobState` values, which the App builds from the client's progress
callback; a job started elsewhere (the CLI) shows without numbers, as the daemon reports
only its name.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from console import format as fmt
from console.state import JobState


class JobPanel(Vertical):
    DEFAULT_CSS = """
    JobPanel { height: auto; }
    JobPanel ProgressBar { width: 1fr; }
    JobPanel Bar { width: 1fr; }
    JobPanel.-idle ProgressBar { display: none; }
    """

    def compose(self) -> ComposeResult:
        yield Static("No job is running.", id="job-title")
        yield ProgressBar(total=100, show_eta=False, id="job-bar")
        yield Static("", id="job-numbers")

    def show(self, job: JobState | None, running_elsewhere: str | None = None) -> None:
        title = self.query_one("#job-title", Static)
        bar = self.query_one("#job-bar", ProgressBar)
        numbers = self.query_one("#job-numbers", Static)
        if job is None and running_elsewhere is None:
            self.set_class(True, "-idle")
            title.update("No job is running.")
            numbers.update("")
            return
        self.set_class(False, "-idle")
        if job is None:
            title.update(f"A {running_elsewhere} is running (started outside this console).")
            bar.update(total=None)
            numbers.update("")
            return
        name = job.name.capitalize() + (f" {job.detail}" if job.detail else "")
        progress = job.progress
        if job.finished:
            title.update(f"{name}: {job.outcome}")
            if not job.failed:
                bar.update(total=100, progress=100)
            numbers.update("")
            return
        title.update(f"{name}: running")
        if progress is None or progress.total_bytes == 0:
            bar.update(total=None)
            numbers.update("starting...")
            return
        bar.update(total=progress.total_bytes, progress=progress.done_bytes)
        numbers.update(f"{fmt.size(progress.done_bytes)} of {fmt.size(progress.total_bytes)}"
                       f" at {fmt.rate(progress.rate_bytes_per_s)}, "
                       f"{fmt.duration(progress.eta_s)} left")
