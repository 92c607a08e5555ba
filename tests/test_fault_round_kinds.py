"""The fault rounds' newer kinds, one small seeded round each, through the script itself
(scripts/fault_rounds.py): real ext4 images on loop devices, the daemon `nasfs mount`
starts, real FUSE, `nasfs rebuild` and `nasfs scrub`. A round that finds lost or torn
acknowledged data, a hang, an error that is not one line, or a scrub with repairs left,
exits 1 and names the seed; the full runs are in docs/recovery.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SMALL = ["--rounds", "1", "--writers", "2", "--ops", "10", "--max-mib", "4",
         "--dies-max-mib", "4", "--dies-mib", "160", "--max-run", "2"]


def rounds(tmp_path: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "fault_rounds.py"), *SMALL,
                           *args, "--dir", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_a_member_dies_while_mounted(tmp_path: Path) -> None:
    # Single parity only: a round with two dying disks takes twice as long, and the store
    # tests (test_store_member_death.py) and the script's runs cover double parity.
    out = rounds(tmp_path, "--only", "dies", "--dies-every", "1", "--seed", "5001")
    assert "1 member-death rounds" in out
    assert "rebuilt disk(s)" in out and "scrub 0 repairs" in out


def test_power_loss(tmp_path: Path) -> None:
    out = rounds(tmp_path, "--only", "power", "--power-every", "1", "--seed", "7001")
    assert "1 power losses" in out


def test_a_crash_during_a_scrub_that_repairs(tmp_path: Path) -> None:
    out = rounds(tmp_path, "--only", "scrub-crash", "--scrub-crash-every", "1",
                 "--seed", "8002")
    assert "1 scrubs killed" in out
    assert "byte-identical to before the damage" in out
