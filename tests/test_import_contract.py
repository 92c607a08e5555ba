"""The import contract (pyproject.toml [tool.importlinter], run by scripts/test) stays
whole as modules are added: every top-level module of nasfs is either forbidden to the
console or one of the two it may use, and every one has its layer in the stack; and the
type-only back-references (which the contract does not count) are the few that
docs/architecture.md lists with their reasons, no more."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import grimp

import nasfs

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
CONSOLE_MAY_USE = {"nasfs.client", "nasfs.wire"}
# (module, what it names under TYPE_CHECKING) where the named module imports the first one at
# run time: a part naming the whole that builds it. Each says why at its import.
BACK_REFERENCES = {
    ("console.screens.base", "console.app"),  # Textual types Screen.app as a plain App
    ("nasfs.fs.commits", "nasfs.fs.filesystem"),  # the filesystem's own lifecycle
    ("nasfs.fs.rename", "nasfs.fs.filesystem"),  # its own operations on its private state
    ("nasfs.fs.unnamed", "nasfs.fs.filesystem"),
    ("nasfs.store.upkeep", "nasfs.store.store"),  # the store's other half
}


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


def back_references() -> set[tuple[str, str]]:
    def graph(type_only: bool) -> grimp.ImportGraph:
        return grimp.build_graph("nasfs", "console", include_external_packages=False,
                                 exclude_type_checking_imports=not type_only)

    every, at_run_time = graph(type_only=True), graph(type_only=False)
    return {(a, b) for a in every.modules
            for b in every.find_modules_directly_imported_by(a)
            - at_run_time.find_modules_directly_imported_by(a)
            if at_run_time.find_shortest_chain(importer=b, imported=a) is not None}


def test_type_only_back_references_are_the_listed_ones() -> None:
    # A new one means a part was handed its whole service: give it a protocol of what it
    # uses instead (docs/architecture.md, "The stack").
    assert back_references() == BACK_REFERENCES
