"""The nasfs configuration file: which members form the array, where it mounts, daemon paths.

One TOML file describes one array (default `/etc/nasfs/nasfs.toml`, `--config` overrides):

    [array]
    members = ["/srv/disk1", "/srv/disk2", "/srv/disk3"]   # member directories
    name = "office"                  # optional; names the socket and log file

    [mount]
    mountpoint = "/srv/nas"
    options = ["allow_other"]        # FUSE mount options (`-o` on the command line)

    [daemon]
    run_dir = "/run/nasfs"           # control sockets, locks, mount registry
    socket = "/run/nasfs/office.sock"  # optional; default RUN_DIR/<array-uuid>.sock
    log_file = "/var/log/nasfs/office.log"  # optional; where a background daemon logs
    flush_interval = 5.0             # seconds between group commits of unsynced changes

Relative paths are taken relative to the directory holding the file. Errors name the file and
the key that is wrong. `NASFS_RUN_DIR` and `NASFS_LOG_DIR` in the environment change the
defaults of `run_dir` and of the log directory (tests and the demo use them).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from nasfs.errors import NasfsError
from nasfs.wire import codes

DEFAULT_CONFIG_PATH = Path("/etc/nasfs/nasfs.toml")
DEFAULT_RUN_DIR = Path("/run/nasfs")
DEFAULT_LOG_DIR = Path("/var/log/nasfs")
DEFAULT_FLUSH_INTERVAL = 5.0

_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "array": frozenset({"members", "name"}),
    "mount": frozenset({"mountpoint", "options"}),
    "daemon": frozenset({"run_dir", "socket", "log_file", "flush_interval"}),
}


class ConfigError(NasfsError):
    """The configuration file is missing, unreadable or has a wrong value."""

    wire_code = codes.CONFIG
    exit_code = 2


def default_run_dir() -> Path:
    return Path(os.environ.get("NASFS_RUN_DIR") or DEFAULT_RUN_DIR)


def default_log_dir() -> Path:
    return Path(os.environ.get("NASFS_LOG_DIR") or DEFAULT_LOG_DIR)


@dataclass(frozen=True)
class Config:
    """Everything the daemon and the CLI need to find, mount and talk to one array."""

    members: tuple[Path, ...] = ()
    name: str | None = None
    mountpoint: Path | None = None
    mount_options: tuple[str, ...] = ()
    run_dir: Path = field(default_factory=default_run_dir)
    socket: Path | None = None
    log_file: Path | None = None
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    source: Path | None = None  # the file this came from, for messages; None if built in code

    def with_overrides(
        self,
        *,
        members: Sequence[str | os.PathLike[str]] | None = None,
        mountpoint: str | os.PathLike[str] | None = None,
        mount_options: Sequence[str] | None = None,
    ) -> Config:
        """The command line wins over the file: replace whatever was given."""
        result = self
        if members:
            result = replace(result, members=tuple(Path(m).absolute() for m in members))
        if mountpoint is not None:
            result = replace(result, mountpoint=Path(mountpoint).absolute())
        if mount_options is not None:
            result = replace(result, mount_options=tuple(mount_options))
        return result

    def to_toml(self) -> str:
        """The file text that `load_config` reads back into an equal Config (minus `source`)."""
        doc: dict[str, Any] = {"array": {"members": [str(m) for m in self.members]}}
        if self.name is not None:
            doc["array"]["name"] = self.name
        mount: dict[str, Any] = {}
        if self.mountpoint is not None:
            mount["mountpoint"] = str(self.mountpoint)
        if self.mount_options:
            mount["options"] = list(self.mount_options)
        if mount:
            doc["mount"] = mount
        daemon: dict[str, Any] = {
            "run_dir": str(self.run_dir),
            "flush_interval": self.flush_interval,
        }
        if self.socket is not None:
            daemon["socket"] = str(self.socket)
        if self.log_file is not None:
            daemon["log_file"] = str(self.log_file)
        doc["daemon"] = daemon
        return tomli_w.dumps(doc)


def write_config(config: Config, path: Path) -> None:
    """Write `config` to `path` atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(config.to_toml(), encoding="utf-8")
    os.replace(tmp, path)


def load_config(path: Path | None = None, *, required: bool | None = None) -> Config:
    """Read the config file at `path` (default `/etc/nasfs/nasfs.toml`).

    A missing file is an error when it was named explicitly (or `required` is true); the
    default file may be absent, which gives an empty Config that the command line fills in.
    Raises ConfigError naming the file and the key for any syntax or value problem.
    """
    explicit = path is not None
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    must_exist = explicit if required is None else required
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(f"config file {path} does not exist") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_config(doc, source=path)


def parse_config(doc: Mapping[str, Any], *, source: Path) -> Config:
    """Turn a parsed TOML document into a Config, checking every key and type."""
    base = source.parent.absolute()
    where = f"config file {source}"
    for section, value in doc.items():
        if section not in _KNOWN_KEYS:
            raise ConfigError(f"{where}: unknown section [{section}]")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key in value:
            if key not in _KNOWN_KEYS[section]:
                raise ConfigError(f"{where}: unknown key '{key}' in [{section}]")

    array = doc.get("array", {})
    mount = doc.get("mount", {})
    daemon = doc.get("daemon", {})

    def path_value(section: str, key: str, value: object) -> Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {section}.{key} must be a non-empty path string")
        return base / value

    members_raw = array.get("members", [])
    if not isinstance(members_raw, list):
        raise ConfigError(f"{where}: array.members must be a list of paths")
    members = tuple(path_value("array", "members", m) for m in members_raw)
    if len(set(members)) != len(members):
        raise ConfigError(f"{where}: array.members names the same directory twice")

    name = array.get("name")
    if name is not None and (
        not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name)
    ):
        raise ConfigError(f"{where}: array.name must be letters, digits, '-', '_' or '.'")

    mountpoint = mount.get("mountpoint")
    options = mount.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) and o for o in options):
        raise ConfigError(f"{where}: mount.options must be a list of option strings")

    interval = daemon.get("flush_interval", DEFAULT_FLUSH_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not (
        0 < interval <= 60
    ):
        raise ConfigError(f"{where}: daemon.flush_interval must be a number of seconds in (0, 60]")

    return Config(
        members=members,
        name=name,
        mountpoint=(
            path_value("mount", "mountpoint", mountpoint) if mountpoint is not None else None
        ),
        mount_options=tuple(options),
        run_dir=(
            path_value("daemon", "run_dir", daemon["run_dir"])
            if "run_dir" in daemon
            else default_run_dir()
        ),
        socket=path_value("daemon", "socket", daemon["socket"]) if "socket" in daemon else None,
        log_file=(
            path_value("daemon", "log_file", daemon["log_file"]) if "log_file" in daemon else None
        ),
        flush_interval=float(interval),
        source=source,
    )
