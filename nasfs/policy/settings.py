"""The policy settings: their names, defaults, and what values they accept.

Stored in `policy.db` (table `setting`) as JSON; a key without a row has its default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nasfs.cron import InvalidSchedule, check_cron
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


def _boolean(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise InvalidValue(f"setting {key} must be yes or no, not {value!r}")
    return parse


def _port(key: str) -> Callable[[Any], Any]:
    positive = _positive_int(key)

    def parse(value: Any) -> int:
        number = int(positive(value))
        if number > 65535:
            raise InvalidValue(f"setting {key} must be a port number up to 65535, not {value!r}")
        return number
    return parse


def _address(key: str, text: str) -> str:
    text = text.strip()
    # A mail address needs one @ with something on both sides; the server judges the rest.
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in ",;<>" for c in text):
        raise InvalidValue(f"setting {key} needs mail addresses like admin@example.com, "
                           f"not {text!r}")
    return text


def _addresses(key: str, *, single: bool = False) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if single:
            if not isinstance(value, str):
                raise InvalidValue(f"setting {key} must be text, not {value!r}")
            return _address(key, value) if value.strip() else ""
        # The CLI and the console give text ("a@x, b@y"); JSON clients may give a list.
        if isinstance(value, str):
            items = [part for part in value.replace(";", ",").split(",") if part.strip()]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = list(value)
        else:
            raise InvalidValue(f"setting {key} must be a list of mail addresses, not {value!r}")
        return [_address(key, item) for item in items]
    return parse


def _percents(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> list[int]:
        parts = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(parts, list):
            raise InvalidValue(f"setting {key} must be a list of percentages, not {value!r}")
        try:
            numbers = sorted({int(p) for p in parts if not isinstance(p, bool)})
        except (TypeError, ValueError):
            raise InvalidValue(f"setting {key} must be whole percentages like 80, 95, "
                               f"not {value!r}") from None
        if len(numbers) != len(parts) or any(not 1 <= n <= 100 for n in numbers):
            raise InvalidValue(f"setting {key} must be different whole percentages from 1 "
                               f"to 100, not {value!r}")
        return numbers
    return parse


def _percent_or_off(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidValue(f"setting {key} must be a percentage (0 = off), "
                               f"not {value!r}") from None
        if isinstance(value, bool) or not 0 <= number <= 100 \
                or str(number) != str(value).strip():
            raise InvalidValue(f"setting {key} must be 0 (off) to 100, not {value!r}")
        return number
    return parse


def _schedule(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue(f"setting {key} must be a cron expression or 'off', "
                               f"not {value!r}")
        if value.strip().lower() in ("", "off", "none", "never"):
            return ""
        try:
            return check_cron(value)
        except InvalidSchedule as exc:
            raise InvalidValue(f"setting {key}: {exc}; or 'off'") from None
    return parse


SETTINGS.update({s.key: s for s in (
    Setting("scrub.schedule", "0 3 1 * *",
            "when the whole-array scrub runs by itself: a five-field cron expression in UTC "
            "(default: 03:00 on the 1st of every month); 'off' for never",
            _schedule("scrub.schedule")),
    Setting("os.accounts", False,
            "publish the NAS users and groups to the operating system (libnss-extrausers), "
            "so the kernel and Samba see the same uids, gids and memberships",
            _boolean("os.accounts")),
    Setting("mail.enabled", False, "send mail about disks, jobs, space and lock-outs",
            _boolean("mail.enabled")),
    Setting("mail.host", "", "the mail (SMTP) server's name or address",
            _text("mail.host")),
    Setting("mail.port", 587, "the mail server's port (25, 465 with mail.ssl, 587)",
            _port("mail.port")),
    Setting("mail.starttls", True, "switch to TLS after connecting (STARTTLS)",
            _boolean("mail.starttls")),
    Setting("mail.ssl", False, "connect with TLS from the start (port 465)",
            _boolean("mail.ssl")),
    Setting("mail.user", "", "user name for the mail server ('' = no login)",
            _text("mail.user")),
    Setting("mail.password", "", "password for the mail server (never shown)",
            _text("mail.password")),
    Setting("mail.from", "", "sender address ('' = nasfs@ this box's name)",
            _addresses("mail.from", single=True)),
    Setting("mail.to", [], "who gets the mail (addresses, comma-separated)",
            _addresses("mail.to")),
    Setting("mail.capacity_percent", [80, 95],
            "fullness (percent) at which a mail is sent, once per crossing",
            _percents("mail.capacity_percent")),
    Setting("mail.repeat_s", 3600, "seconds in which the same notice is mailed only once",
            _positive_int("mail.repeat_s")),
    Setting("mail.attempts", 3, "tries per mail before it is given up (and logged)",
            _positive_int("mail.attempts")),
    Setting("backup.space_warn_percent", 90,
            "a backup destination fuller than this (percent) after a run is a notice "
            "(0 = never)", _percent_or_off("backup.space_warn_percent")),
    Setting("backup.digest_schedule", "",
            "when a summary of the backups since the last one is sent (five-field cron, "
            "UTC, e.g. '0 7 * * *' for every morning); 'off' for none",
            _schedule("backup.digest_schedule")),
)})

def _timezone(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(f"setting {key} must be a time zone name such as Asia/Tokyo, "
                               f"not {value!r}")
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidValue(f"setting {key}: unknown time zone {value!r} (use a name "
                               "such as UTC, Europe/Berlin or Asia/Tokyo)") from None
        return value.strip()
    return parse


SETTINGS.update({s.key: s for s in (
    Setting("trash.default_days", 30,
            "days deleted items stay in a new share's trash unless the share says otherwise",
            _positive_int("trash.default_days")),
    Setting("system.timezone", "UTC",
            "time zone in which the console and exported logs show times",
            _timezone("system.timezone")),
)})

def _interfaces(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue(f"setting {key} must be text, not {value!r}")
        names = value.replace(",", " ").split()
        if any(not all(c.isalnum() or c in ".:/-_" for c in n) for n in names):
            raise InvalidValue(f"setting {key} must be addresses or interface names "
                               f"separated by spaces (such as 127.0.0.1 eth0), not {value!r}")
        return " ".join(names)
    return parse


def _absolute_path(key: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
            raise InvalidValue(f"setting {key} must be an absolute path, not {value!r}")
        return value.rstrip("/") or "/"
    return parse


SETTINGS.update({s.key: s for s in (
    Setting("smb.enabled", False,
            "serve the shares over SMB (Samba) while the array is mounted; needs os.accounts",
            _boolean("smb.enabled")),
    Setting("smb.port", 445, "the TCP port smbd listens on", _port("smb.port")),
    Setting("smb.interfaces", "",
            "addresses or interfaces smbd listens on, separated by spaces ('' = all)",
            _interfaces("smb.interfaces")),
    Setting("smb.state_dir", "/var/lib/nasfs/smb",
            "where nasfs keeps smbd's configuration, password database, state and log",
            _absolute_path("smb.state_dir")),
)})

# Settings whose values are stored but never shown or logged: only whether they are set.
SECRET_SETTINGS = frozenset({"mail.password"})


def shown_value(key: str, value: Any) -> Any:
    """What `settings.get`, `settings.set` and the system log show of a setting's value."""
    if key in SECRET_SETTINGS:
        return "set" if value else "unset"
    return value


def setting_text(value: Any) -> str:
    """A setting's value as a person writes it (and `settings set` accepts it back): yes/no,
    lists joined by commas, numbers and text as they are, empty text as ''."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "''"
    text = str(value)
    return text if text else "''"


def parse_setting(key: str, value: Any) -> Any:
    """The checked value for `key` (NotFound for an unknown key, InvalidValue for a bad one)."""
    setting = SETTINGS.get(key)
    if setting is None:
        raise NotFound(f"there is no setting {key!r} (there are: {', '.join(SETTINGS)})")
    return setting.parse(value)
