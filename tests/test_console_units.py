"""The systemd units that put the console on tty1 and ttyS0: what they must promise, and
`systemd-analyze verify` on instantiated copies when systemd is there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).parent.parent / "scripts" / "systemd"
CASES = [("nasfs-console@.service", "tty1", "getty@%i.service", "TERM=linux"),
         ("nasfs-console-serial@.service", "ttyS0", "serial-getty@%i.service", "TERM=vt220")]


def settings(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (a key may repeat, as Environment= does)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize(("unit", "tty", "getty", "term"), CASES)
def test_unit_takes_the_terminal_and_comes_back(unit: str, tty: str, getty: str,
                                                term: str) -> None:
    found = settings(UNITS / unit)
    assert found["Restart"] == ["always"]
    assert found["TTYPath"] == ["/dev/%I"]
    assert found["StandardInput"] == ["tty"]
    assert found["Conflicts"] == [getty]  # no OS login prompt in front of the console
    assert term in found["Environment"]
    assert found["ExecStart"][0].split()[0].endswith("/nasfs-console")
    assert found["WantedBy"] == ["getty.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd here")
@pytest.mark.parametrize(("unit", "tty", "getty", "term"), CASES)
def test_systemd_accepts_the_unit(unit: str, tty: str, getty: str, term: str,
                                  tmp_path: Path) -> None:
    console = Path(sys.executable).parent / "nasfs-console"
    if not console.exists():
        pytest.skip("nasfs-console is not installed in this environment")
    text = (UNITS / unit).read_text().replace("/usr/local/bin/nasfs-console", str(console))
    instance = tmp_path / unit.replace("@.", f"@{tty}.")
    instance.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(instance)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "nasfs-console" not in done.stderr, done.stderr
