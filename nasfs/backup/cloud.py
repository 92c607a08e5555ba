"""Cloud destinations through rclone: a remote per job in nasfs's own rclone config
(STATE/backup/rclone.conf, mode 0600: it holds the provider's secrets), optionally wrapped
in rclone crypt so the provider sees only ciphertext (names and contents).

Remote names: `nasfs-<JOB>` (the backend), `nasfs-<JOB>-crypt` (crypt over it). Passwords
are stored obscured by rclone (not encrypted: the file's mode is what protects them).
Keep the crypt password somewhere else too: without it the backup cannot be read.

Generations are folders in the remote as on a disk; rclone has no hard links, so each
generation is a full copy made with `--copy-dest` the last good one (server-side copies
where the backend can; docs/backup.md). `rclone sync` into `.incomplete-STAMP` resumes by
itself: files already there with the same size and time are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from nasfs.backup.model import Destination, InvalidJob, Options
from nasfs.backup.results import BackupError, DestinationMissing
from nasfs.backup.state import backup_state_dir


def config_path() -> Path:
    path = backup_state_dir() / "rclone.conf"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)
    return path


def _rclone(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rclone", "--config", str(config_path()), *args], input=stdin,
                          capture_output=True, text=True, check=False)


def configure(job: str, backend: str, settings: dict[str, str],
              crypt_password: str | None) -> None:
    """(Re)make the job's remote(s); rclone obscures password fields itself."""
    remove(job)
    pairs = [f"{k}={v}" for k, v in sorted(settings.items())]
    done = _rclone("config", "create", f"nasfs-{job}", backend, *pairs, "--non-interactive")
    if done.returncode != 0:
        raise InvalidJob(f"rclone refused the {backend} settings: {done.stderr.strip()}")
    if crypt_password is not None:
        if len(crypt_password) < 8:
            raise InvalidJob("the crypt password needs at least 8 characters")
        done = _rclone("config", "create", f"nasfs-{job}-crypt", "crypt",
                       f"remote=nasfs-{job}:", f"password={crypt_password}",
                       "--non-interactive")
        if done.returncode != 0:
            raise InvalidJob(f"rclone refused the crypt settings: {done.stderr.strip()}")
    os.chmod(config_path(), 0o600)


def remove(job: str) -> None:
    for name in (f"nasfs-{job}", f"nasfs-{job}-crypt"):
        _rclone("config", "delete", name)


def configured(job: str) -> bool:
    done = _rclone("listremotes")
    return f"nasfs-{job}:" in done.stdout.split()


# Settings of a remote that say where it is and hold no secret: shown to tell remotes apart.
_WHERE = ("url", "endpoint", "host", "region")


def _dump() -> dict[str, dict[str, str]]:
    done = _rclone("config", "dump")
    if done.returncode != 0:
        raise BackupError(f"rclone could not read its config: {done.stderr.strip()}")
    conf = json.loads(done.stdout or "{}")
    return conf if isinstance(conf, dict) else {}


def _wrapper(conf: dict[str, dict[str, str]], job: str) -> dict[str, str] | None:
    """The crypt remote wrapping the job's remote, if it has one."""
    crypt = conf.get(f"nasfs-{job}-crypt")
    if crypt is None or crypt.get("type") != "crypt" or crypt.get("remote") != f"nasfs-{job}:":
        return None
    return crypt


def remotes() -> list[dict[str, Any]]:
    """The remotes configured in nasfs's rclone config, one per job key: `key`, the
    backend `type`, `crypt` (wrapped in rclone crypt) and `where` (its url, endpoint, host
    or region, if it has one). Never a setting that may be secret."""
    conf = _dump()
    out = []
    for name, settings in sorted(conf.items()):
        key = name.removeprefix("nasfs-")
        if key == name or (key.endswith("-crypt") and _wrapper(conf, key[:-6]) is settings):
            continue
        where = next((settings[k] for k in _WHERE if settings.get(k)), "")
        out.append({"key": key, "type": settings.get("type", ""),
                    "crypt": _wrapper(conf, key) is not None, "where": where})
    return out


def copy(source: str, job: str) -> tuple[str, bool]:
    """Make the job's remote(s) a copy of those of the job key `source` (its backend
    settings, and its crypt wrapper with the same passwords), so either job can be
    deleted without the other losing its remote. Returns (backend type, crypt). The values
    are copied as rclone stored them (passwords already obscured: --no-obscure)."""
    conf = _dump()
    base = conf.get(f"nasfs-{source}")
    if base is None:
        raise InvalidJob(f"there is no cloud remote {source!r} to copy (nasfs backup "
                         "remotes lists them)")
    crypt = _wrapper(conf, source)
    backend = base.get("type", "")
    if source == job:
        return backend, crypt is not None
    remove(job)
    pairs = [f"{k}={v}" for k, v in sorted(base.items()) if k != "type"]
    done = _rclone("config", "create", f"nasfs-{job}", backend, *pairs, "--no-obscure",
                   "--non-interactive")
    if done.returncode != 0:
        raise InvalidJob(f"rclone could not copy the remote {source}: {done.stderr.strip()}")
    if crypt is not None:
        pairs = [f"{k}={v}" for k, v in sorted(crypt.items()) if k not in ("type", "remote")]
        done = _rclone("config", "create", f"nasfs-{job}-crypt", "crypt",
                       f"remote=nasfs-{job}:", *pairs, "--no-obscure", "--non-interactive")
        if done.returncode != 0:
            remove(job)
            raise InvalidJob(f"rclone could not copy the crypt remote of {source}: "
                             f"{done.stderr.strip()}")
    os.chmod(config_path(), 0o600)
    return backend, crypt is not None


class CloudPlace:
    """A job's folder in its rclone remote (see the module docstring)."""

    hardlinks = False
    posix = False
    owners = False
    exact_times = False

    def __init__(self, job: str, dest: Destination) -> None:
        remote = f"nasfs-{job}-crypt:" if dest.crypt else f"nasfs-{job}:"
        self.base = remote + "/".join(p for p in (dest.path, job) if p)
        self.job = job

    def describe(self) -> str:
        return self.base

    def at(self, name: str = "") -> str:
        return f"{self.base}/{name}" if name else self.base

    def run(self, *args: str, stdin: str | None = None) -> str:
        done = _rclone(*args, stdin=stdin)
        if done.returncode != 0:
            from nasfs.backup.results import from_rclone

            outcome = from_rclone(done.returncode, done.stderr)
            if outcome.result == "destination_missing":
                raise DestinationMissing(outcome.detail)
            raise BackupError(outcome.detail, outcome.result)
        return done.stdout

    def prepare(self) -> None:
        if not configured(self.job):
            raise InvalidJob(f"the cloud remote of job {self.job} is not configured on this "
                             "box (nasfs backup edit --cloud-option ...)")
        self.run("mkdir", self.at())

    def names(self) -> list[str]:
        return sorted(n.rstrip("/") for n in self.run("lsf", self.at()).splitlines() if n)

    def rename(self, old: str, new: str) -> None:
        self.run("moveto", self.at(old), self.at(new))

    def flush(self) -> None:
        # Nothing to do: rclone returns only after the provider acknowledged each upload.
        pass

    def remove(self, name: str) -> None:
        if name.endswith(".manifest"):
            self.run("deletefile", self.at(name))
        else:
            self.run("purge", self.at(name))

    def space(self) -> tuple[int, int] | None:
        done = _rclone("about", "--json", self.at())
        try:
            about = json.loads(done.stdout)
        except ValueError:
            return None  # the backend does not tell (many do not)
        free, total = about.get("free"), about.get("total")
        if isinstance(free, int) and isinstance(total, int) and total > 0:
            return free, total
        return None

    def read_text(self, name: str) -> str | None:
        done = _rclone("cat", self.at(name))
        return done.stdout if done.returncode == 0 else None

    def write_text(self, name: str, text: str) -> None:
        self.run("rcat", self.at(name), stdin=text)

    def files(self, name: str) -> Iterator[tuple[str, int]]:
        out = self.run("lsjson", "-R", "--files-only", self.at(name))
        for item in json.loads(out or "[]"):
            # Symlinks travel as '.rclonelink' files; the manifest lists regular files.
            if not str(item["Path"]).endswith(".rclonelink"):
                yield str(item["Path"]), int(item["Size"])

    def open_file(self, name: str, path: str) -> IO[bytes]:
        proc = subprocess.Popen(["rclone", "--config", str(config_path()), "cat",
                                 self.at(f"{name}/{path}")], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        return proc.stdout

    def still_there(self) -> bool:
        return _rclone("lsf", "--max-depth", "1", self.at()).returncode == 0

    def copy_args(self, source: str, name: str, options: Options,
                  last_good: str | None) -> list[str]:
        args = ["rclone", "--config", str(config_path()), "sync", source, self.at(name),
                "--stats-one-line", "--stats", "1s", "-v", "--filter", "- /#snapshot/**",
                "--filter", "- /#trash/**", "--links"]
        for p in options.include:
            args += ["--filter", f"+ {p}"]
        for p in options.exclude:
            args += ["--filter", f"- {p}"]
        if options.bwlimit_kib:
            args += ["--bwlimit", f"{options.bwlimit_kib}K"]
        if last_good is not None:
            args += ["--copy-dest", self.at(last_good)]
        return args
