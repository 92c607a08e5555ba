"""A running backup's progress, read from the copy tool's own progress output.

rsync `--info=progress2` prints one line for the whole transfer, e.g.

    3300000  36%    3.19MB/s    0:00:00 (xfr#11, to-chk=19/31)

bytes so far, percent of the bytes it knows of, its rate, and after each file the count of
files transferred and `to-chk=LEFT/TOTAL` (`ir-chk` while the file list still grows).
rclone `--stats-one-line -v` logs `INFO  :  1.027 MiB / 2.861 MiB, 36%, 1.027 MiB/s, ETA 1s`
(with `Transferred:` in front in some versions and log formats).

Only what costs nothing is added: the total is estimated from the tool's percent (no walk
of the source tree), the rate is the average since the copy started, and the time left
follows from both. Nothing here blocks; `read_line` runs once per line the tool prints.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

_RSYNC = re.compile(rb"^\s*([\d,]+)\s+(\d+)%\s+(\S+)\s+\S+"
                    rb"(?:\s+\(xfr#(\d+),\s*(?:to|ir)-chk=(\d+)/(\d+)\))?")
_RCLONE = re.compile(r"(?:Transferred:|INFO\s*:)\s*([\d.]+)\s*(\w*)\s*/\s*"
                     r"([\d.]+)\s*(\w*),\s*(\d+)%")
_UNITS = {"": 1, "B": 1, "Byte": 1, "Bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20,
          "GiB": 1 << 30, "TiB": 1 << 40, "k": 1000, "kB": 1000, "KB": 1000, "M": 10**6,
          "MB": 10**6, "G": 10**9, "GB": 10**9}


@dataclass
class Progress:
    """What the running copy has done so far (read by `backup status` and the console)."""

    phase: str = "starting"  # snapshot, link, copy, manifest, verify, flush, rotate, ...
    bytes_done: int = 0
    files_done: int = 0  # files transferred (unchanged ones are not counted)
    rate: str = ""  # the tool's own words for its current rate
    percent: int = 0
    files_checked: int | None = None  # files looked at of files_total (rsync)
    files_total: int | None = None  # files known so far (grows while rsync lists them)
    total_bytes: int | None = None  # estimated from the percent; None before 1 %
    started: float = field(default_factory=time.time)
    copy_started: float | None = None  # when the first progress line came
    # Seconds each finished phase took, in order (logged after the run: where a run's
    # time goes, e.g. the unchanged second run of a many-files tree).
    phase_s: dict[str, float] = field(default_factory=dict)
    _phase_at: float = field(default_factory=time.monotonic, repr=False)

    def enter(self, phase: str) -> None:
        """Start `phase`, booking the time since the last one to that one."""
        now = time.monotonic()
        self.phase_s[self.phase] = self.phase_s.get(self.phase, 0.0) + now - self._phase_at
        self.phase, self._phase_at = phase, now

    def timings(self) -> str:
        """'snapshot 0.12 s, copy 3.40 s, …' up to now (the current phase included)."""
        self.enter(self.phase)
        return ", ".join(f"{k} {v:.2f} s" for k, v in self.phase_s.items())

    def rate_bytes_per_s(self, now: float | None = None) -> float | None:
        """The average rate since the copy started (None before it has a second of it)."""
        if self.copy_started is None:
            return None
        elapsed = (time.time() if now is None else now) - self.copy_started
        return self.bytes_done / elapsed if elapsed >= 1.0 else None

    def eta_s(self, now: float | None = None) -> float | None:
        rate = self.rate_bytes_per_s(now)
        if rate is None or rate <= 0 or self.total_bytes is None:
            return None
        return max(0.0, (self.total_bytes - self.bytes_done) / rate)

    def to_json(self) -> dict[str, object]:
        now = time.time()
        rate = self.rate_bytes_per_s(now)
        eta = self.eta_s(now)
        return {"phase": self.phase, "bytes_done": self.bytes_done,
                "files_done": self.files_done, "rate": self.rate, "percent": self.percent,
                "elapsed_s": round(now - self.started, 1),
                "total_bytes": self.total_bytes, "files_checked": self.files_checked,
                "files_total": self.files_total,
                "rate_bytes_per_s": None if rate is None else round(rate),
                "eta_s": None if eta is None else round(eta, 1)}


def read_line(line: bytes, progress: Progress, now: float | None = None) -> None:
    """Take what one line of rsync or rclone output says into `progress`."""
    m = _RSYNC.match(line)
    if m:
        _started(progress, now)
        progress.bytes_done = int(m.group(1).replace(b",", b""))
        progress.percent = int(m.group(2))
        progress.rate = m.group(3).decode()
        if m.group(4):
            progress.files_done = int(m.group(4))
            left, total = int(m.group(5)), int(m.group(6))
            progress.files_total, progress.files_checked = total, total - left
        progress.total_bytes = _estimate(progress.bytes_done, progress.percent)
        return
    text = line.decode(errors="replace")
    r = _RCLONE.search(text)
    if r:
        _started(progress, now)
        progress.bytes_done = _bytes(r.group(1), r.group(2))
        progress.total_bytes = _bytes(r.group(3), r.group(4))
        progress.percent = int(r.group(5))
        rate = re.search(r"%,\s*([^,]+/s)", text)
        if rate:
            progress.rate = rate.group(1).strip()


def _started(progress: Progress, now: float | None) -> None:
    if progress.copy_started is None:
        progress.copy_started = time.time() if now is None else now


def _estimate(done: int, percent: int) -> int | None:
    if percent >= 100:
        return done
    # rsync's percent is whole; below 1 % there is nothing to estimate from.
    return round(done * 100 / percent) if percent > 0 else None


def _bytes(number: str, unit: str) -> int:
    return round(float(number) * _UNITS.get(unit, 1))
