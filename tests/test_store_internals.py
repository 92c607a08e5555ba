"""The store's lock, catalog and stripe counter are its own: only nasfs/store/store.py and
nasfs/store/upkeep.py (the interface maintenance jobs get, `store.upkeep`) touch them.

A source scan: any other module reaching into them would take the lock or query the catalog
behind the store's back, which is how the jobs used to race the write path.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OWNERS = {Path("nasfs/store/store.py"), Path("nasfs/store/upkeep.py")}
# Attributes that are the store's alone, whatever object they are reached through.
STORE_ONLY = {"catalog", "_next_stripe"}


def reaches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, expression) of every `X.catalog`-like access, and of every `X._lock` where X is
    another object than the module's own `self`/`cls` (a class's own lock is its business)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        if node.attr in STORE_ONLY or (node.attr == "_lock" and not own):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_scan_sees_what_it_looks_for() -> None:
    sample = "store._lock.acquire()\nself._lock.release()\nrows = s.catalog.stripes()\n"
    assert reaches(ast.parse(sample)) == [(1, "store._lock"), (3, "s.catalog")]


def test_only_the_store_and_its_upkeep_touch_its_lock_and_catalog() -> None:
    offenders = []
    for path in sorted((REPO / "nasfs").rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel in OWNERS:
            continue
        offenders += [f"{rel}:{line}: {expr}"
                      for line, expr in reaches(ast.parse(path.read_text(), str(rel)))]
    assert offenders == []
