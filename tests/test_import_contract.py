"""The import contract (pyproject.toml [tool.importlinter], run by scripts/test) stays
whole as modules are added: every top-level module of nasfs is either forbidden to the
console or one of the two it may use, and every one has its layer in the stack."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import nasfs

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
CONSOLE_MAY_USE = {"nasfs.client", "nasfs.wire"}


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def top_level_modules() -> set[str]:
    return {f"nasfs.{m.name}" for m in pkgutil.iter_modules(nasfs.__path__)
            if not m.name.startswith("_")}


def test_the_console_list_names_every_module_but_the_client_and_the_wire() -> None:
    forbidden = set(contracts()["console"]["forbidden_modules"])
    assert forbidden | CONSOLE_MAY_USE >= top_level_modules()
    assert not forbidden & CONSOLE_MAY_USE


def test_every_module_has_its_layer() -> None:
    layered = {name.strip() for layer in contracts()["stack"]["layers"]
               for name in layer.replace(":", "|").split("|")}
    assert top_level_modules() <= layered
