"""The policy settings: their names, defaults, and what values they accept.

Stored in `policy.db` (table `setting`) as JSON; a key without a row has its default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nasfs.policy.errors import InvalidValue, NotFound


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    help: str
    parse: Callable[[Any], Any]  # raises InvalidValue; accepts the value or its CLI text


def _positive_int(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidValue(f"setting {key} must be a whole number, not {value!r}") from None
        if isinstance(value, bool) or number <= 0 or str(number) != str(value).strip():
            raise InvalidValue(f"setting {key} must be a positive whole number, not {value!r}")
        return number
    return parse


def _choice(key: str, *choices: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise InvalidValue(f"setting {key} must be one of {', '.join(choices)}, "
                               f"not {value!r}")
        return str(value)
    return parse


def _text(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue(f"setting {key} must be text, not {value!r}")
        return value
    return parse


SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("auth.max_failures", 5, "failed logins (per name, and per source) that lock it",
            _positive_int("auth.max_failures")),
    Setting("auth.window_s", 600, "seconds within which failed logins are counted",
            _positive_int("auth.window_s")),
    Setting("auth.lock_s", 1800, "seconds a lock lasts (in 'timed' mode)",
            _positive_int("auth.lock_s")),
    Setting("auth.lock_mode", "timed",
            "'timed': locks end by themselves; 'permanent': an administrator must unlock",
            _choice("auth.lock_mode", "timed", "permanent")),
    Setting("log.retention_days", 365, "days log rows are kept in the database",
            _positive_int("log.retention_days")),
    Setting("log.export_dir", "", "folder the daily CSV export goes to ('' = no export)",
            _text("log.export_dir")),
    Setting("log.export_encoding", "utf-8-sig", "encoding of the daily CSV export",
            _choice("log.export_encoding", "utf-8", "utf-8-sig", "cp932")),
)}


def parse_setting(key: str, value: Any) -> Any:
    """The checked value for `key` (NotFound for an unknown key, InvalidValue for a bad one)."""
    setting = SETTINGS.get(key)
    if setting is None:
        raise NotFound(f"there is no setting {key!r} (there are: {', '.join(SETTINGS)})")
    return setting.parse(value)
