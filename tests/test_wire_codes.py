"""The wire codes are one table (nasfs.wire.codes) that the docs list in full, every error
class answers a constant of it, and parameters follow one rule for null (nasfs.params)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import nasfs
from nasfs.errors import BadParams, NasfsError
from nasfs.params import param
from nasfs.wire import codes

DOCS = Path(__file__).resolve().parent.parent / "docs" / "control-protocol.md"


def all_error_classes() -> list[type[NasfsError]]:
    for module in pkgutil.walk_packages(nasfs.__path__, "nasfs."):
        importlib.import_module(module.name)
    found: list[type[NasfsError]] = []
    todo: list[type[NasfsError]] = [NasfsError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__.startswith("nasfs.")]


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(), re.M))
    assert set(codes.all_codes().values()) <= documented
    # ... and the docs name no code the table does not have.
    assert documented <= set(codes.all_codes().values())


def test_every_error_class_answers_a_constant_of_the_table() -> None:
    table = set(codes.all_codes().values())
    classes = all_error_classes()
    assert len(classes) > 50
    for cls in classes:
        assert cls.wire_code in table, cls


def test_one_bad_params_class() -> None:
    named = [c for c in all_error_classes() if c.__name__ == "BadParams"]
    assert named == [BadParams]
    assert BadParams.wire_code == codes.BAD_PARAMS == "bad_params" and BadParams.exit_code == 2


def test_a_renamed_class_keeps_its_code() -> None:
    from nasfs.daemon.jobrun import ScrubCancelled

    renamed = type("CheckStopped", (ScrubCancelled,), {})
    assert renamed.wire_code == codes.SCRUB_CANCELLED == "scrub_cancelled"


def test_null_counts_as_not_given() -> None:
    params: dict[str, Any] = {"a": None}
    assert param(params, "m", "a", int, 7) == 7
    assert param(params, "m", "b", int, 7) == 7
    for name in ("a", "b"):
        with pytest.raises(BadParams, match=f"needs the parameter '{name}'"):
            param(params, "m", name, int)


def test_null_is_a_value_where_none_is_a_kind() -> None:
    assert param({"p": None}, "m", "p", (str, type(None))) is None
    with pytest.raises(BadParams, match="needs the parameter 'p'"):
        param({}, "m", "p", (str, type(None)))
    with pytest.raises(BadParams, match="must be str or null"):
        param({"p": 3}, "m", "p", (str, type(None)))


def test_bool_is_no_number() -> None:
    assert param({"n": 3}, "m", "n", int) == 3
    with pytest.raises(BadParams, match="must be int"):
        param({"n": True}, "m", "n", int)
    assert param({"f": True}, "m", "f", bool) is True
