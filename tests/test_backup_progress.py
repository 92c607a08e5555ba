"""A running backup's progress read from rsync's and rclone's own progress lines
(nasfs.backup.progress): bytes, files, the estimated total, the average rate and the time
left, from lines as the tools print them; the tools run for real (nasfs.backup.tools)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nasfs.backup.progress import Progress, read_line


def test_rsync_progress2_lines_give_bytes_files_total_rate_and_time_left() -> None:
    p = Progress()
    read_line(b"          32768   0%    0.00kB/s    0:00:00  ", p, now=100.0)
    assert p.bytes_done == 32768 and p.total_bytes is None  # nothing to estimate at 0 %
    assert p.rate_bytes_per_s(100.5) is None  # under a second of copying: no rate yet
    read_line(b"        1200000  13%    3.44MB/s    0:00:00 (xfr#4, to-chk=26/31)", p,
              now=101.0)
    assert (p.bytes_done, p.percent, p.files_done) == (1_200_000, 13, 4)
    assert (p.files_checked, p.files_total) == (5, 31)
    assert p.total_bytes == round(1_200_000 * 100 / 13)
    read_line(b"        3000000  25%    3.26MB/s    0:00:00 (xfr#10, ir-chk=1000/1030)", p,
              now=102.0)
    assert (p.files_checked, p.files_total) == (30, 1030)
    # 3,000,000 bytes in the 2 s since the first line; 9,000,000 left at that rate: 6 s.
    assert p.rate_bytes_per_s(103.0) == 1_000_000
    assert p.eta_s(103.0) == 9.0
    read_line(b"       12000000 100%    3.00MB/s    0:00:04 (xfr#31, to-chk=0/31)", p)
    assert p.total_bytes == 12_000_000 and p.files_checked == 31
    body = p.to_json()
    for key in ("total_bytes", "files_checked", "files_total", "rate_bytes_per_s", "eta_s"):
        assert key in body


def test_rclone_one_line_stats_give_done_and_total() -> None:
    p = Progress()
    # As rclone 1.60 logs them with -v (the date's slashes are no sizes).
    read_line(b"2026/12/01 15:29:09 INFO  : Starting bandwidth limiter at 1Mi Byte/s", p)
    assert p.bytes_done == 0
    read_line(b"2026/12/01 15:29:10 INFO  :     1.500 MiB / 6 MiB, 25%, 1.500 MiB/s, ETA 3s",
              p)
    assert (p.bytes_done, p.total_bytes, p.percent) == (1_572_864, 6 << 20, 25)
    assert p.rate == "1.500 MiB/s"
    read_line(b"Transferred:   \t    3 MiB / 6 MiB, 50%, 1.500 MiB/s, ETA 2s", p)
    assert (p.bytes_done, p.percent) == (3 << 20, 50)


def test_other_lines_change_nothing() -> None:
    p = Progress()
    for line in (b"", b"sending incremental file list", b"rsync: [sender] link_stat failed",
                 b"Transferred: 0 B / 0 B, -, 0 B/s, ETA -"):
        read_line(line, p)
    assert (p.bytes_done, p.total_bytes, p.copy_started) == (0, None, None)


def test_a_real_rsync_is_read_and_cancelled(tmp_path: Path) -> None:
    """tools.run with rsync itself: the progress of the whole copy arrives although the
    output is looked at only every POLL_S, stderr and the exit code come back, and a
    cancelled copy is killed (with what it started) and says so in its exit code."""
    from nasfs.backup import tools

    src = tmp_path / "src"
    src.mkdir()
    for i in range(300):
        (src / f"f{i:03}").write_bytes(os.urandom(1000))
    progress = tools.Progress()
    code, err = tools.run(["rsync", "-a", "--info=progress2", "--no-human-readable",
                           f"{src}/", f"{tmp_path / 'dst'}/"], progress, lambda: False)
    assert (code, err) == (0, "")
    assert progress.bytes_done == 300_000 and progress.files_done == 300
    code, err = tools.run(["rsync", "-a", f"{tmp_path / 'missing'}/", f"{tmp_path}/x/"],
                          tools.Progress(), lambda: False)
    assert code == 23 and "No such file or directory" in err
    (src / "big").write_bytes(os.urandom(8 << 20))
    started = time.monotonic()
    code, _ = tools.run(["rsync", "-a", "--bwlimit=64", f"{src}/", f"{tmp_path / 'slow'}/"],
                        tools.Progress(), lambda: time.monotonic() - started > 0.5)
    assert code != 0  # at 64 KiB/s the 8 MiB file takes two minutes: it was killed
    assert not (tmp_path / "slow" / "big").exists()
