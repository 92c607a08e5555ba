"""The TOML configuration file: round trip, defaults, and one clear message per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasfs.config import Config, ConfigError, load_config, write_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nasfs.toml"
    path.write_text(text)
    return path


def test_round_trip(tmp_path: Path) -> None:
    config = Config(
        members=(tmp_path / "d1", tmp_path / "d2", tmp_path / "d3"),
        name="office",
        mountpoint=tmp_path / "mnt",
        mount_options=("allow_other", "default_permissions"),
        run_dir=tmp_path / "run",
        socket=tmp_path / "run" / "office.sock",
        log_file=tmp_path / "log" / "office.log",
        flush_interval=2.5,
    )
    path = tmp_path / "etc" / "nasfs.toml"
    write_config(config, path)
    loaded = load_config(path)
    assert loaded == Config(**{**config.__dict__, "source": path})


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[array]\nmembers = ["a", "b"]\n[mount]\nmountpoint = "m"\n')
    config = load_config(path)
    assert config.members == (tmp_path / "a", tmp_path / "b")
    assert config.mountpoint == tmp_path / "m"
    assert config.mount_options == ()


def test_missing_default_file_gives_empty_config(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import nasfs.config

    monkeypatch.setattr(nasfs.config, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    assert load_config().members == ()


def test_missing_named_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*absent.toml does not exist"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[array\n", r"is not valid TOML: .*line 1"),
        ("[arrays]\n", r"unknown section \[arrays\]"),
        ("array = 3\n", r"\[array\] must be a table"),
        ("[mount]\noptoins = []\n", r"unknown key 'optoins' in \[mount\]"),
        ('[array]\nmembers = "/srv/d1"\n', r"array.members must be a list of paths"),
        ("[array]\nmembers = [1]\n", r"array.members must be a non-empty path string"),
        ('[array]\nmembers = ["a", "a"]\n', r"names the same directory twice"),
        ('[array]\nname = "my array"\n', r"array.name must be letters"),
        ('[mount]\noptions = "allow_other"\n', r"mount.options must be a list"),
        ('[mount]\nmountpoint = ""\n', r"mount.mountpoint must be a non-empty path"),
        ("[daemon]\nflush_interval = 0\n", r"flush_interval must be a number of seconds"),
        ("[daemon]\nflush_interval = true\n", r"flush_interval must be a number of seconds"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "nasfs.toml"
    path.write_bytes(b"[array]\nname = \"\xff\"\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)


def test_command_line_overrides(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[array]\nmembers = ["a"]\n[mount]\nmountpoint="m"\n'))
    changed = config.with_overrides(members=["x", "y"], mountpoint="z", mount_options=["ro"])
    assert changed.members == (Path("x").absolute(), Path("y").absolute())
    assert changed.mountpoint == Path("z").absolute()
    assert changed.mount_options == ("ro",)
    assert config.with_overrides() == config


def test_environment_sets_run_dir_default(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFS_RUN_DIR", str(tmp_path / "run"))
    assert load_config(write(tmp_path, "")).run_dir == tmp_path / "run"
    assert Config().run_dir == tmp_path / "run"
