"""The package declaration: setuptools reads it without a warning, so scripts/setup stays
quiet on success (a warning there would hide the one line that matters on failure).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent


def run_backend(hook: str, out: Path) -> subprocess.CompletedProcess[str]:
    """Call one PEP 517 hook of the build backend as pip would, warnings turned to errors."""
    code = f"from setuptools import build_meta; build_meta.{hook}({str(out)!r})"
    return subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO,
                          capture_output=True, text=True, check=False)


def test_metadata_is_declared_without_warnings(tmp_path: Path) -> None:
    done = run_backend("prepare_metadata_for_build_editable", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr


def test_editable_install_builds_without_warnings(tmp_path: Path) -> None:
    # The editable wheel compiles the extensions and picks how the checkout is put on
    # sys.path; both used to warn (experimental ext-modules, the import-hook notice).
    done = run_backend("build_editable", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    assert list(tmp_path.glob("nasfs-*.whl"))
