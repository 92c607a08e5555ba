"""Samba's own password database (tdbsam under nasfs's Samba state directory).

Samba checks SMB logins against NT hashes it keeps itself, so a NAS password set through
nasfs is handed to `smbpasswd` on its standard input at the same moment (the plaintext is
never written to a file, an argument or the environment). A user without a NAS password is
removed from the passdb: they cannot log in over SMB. smbpasswd needs the user to exist
for the operating system, so this works only with `os.accounts` on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.smb.apply import make_private, write_file
from nasfs.smb.config import Site, directories, passdb_config
from nasfs.wire import codes

PASSDB_CONF = "passdb.conf"
# Entries of locked users, taken out of the passdb while the lock holds (see `lock`).
LOCKED_DIR = "locked"


class SambaPasswordError(NasfsError):
    """smbpasswd or pdbedit refused a change."""

    wire_code = codes.SAMBA_PASSWORD


def _conf(site: Site) -> Path:
    make_private(site.state_dir, tuple(directories(site)))  # password hashes live here
    path = site.state_dir / PASSDB_CONF
    write_file(path, passdb_config(site))
    return path


def set_password(site: Site, name: str, password: str) -> None:
    """Add `name` to the passdb (or change its password)."""
    if "\n" in password or "\r" in password:
        raise SambaPasswordError("a password for SMB cannot contain a line break")
    done = subprocess.run(["smbpasswd", "-c", str(_conf(site)), "-s", "-a", name],
                          input=f"{password}\n{password}\n", capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SambaPasswordError(f"Samba did not take the password of {name!r}: "
                                 f"{_why(done)}")
    # smbpasswd -a leaves an existing entry disabled if it was; make sure it is usable.
    subprocess.run(["smbpasswd", "-c", str(_conf(site)), "-e", name], capture_output=True,
                   text=True, check=False)
    if _locked_path(site, name).exists():
        lock(site, name)  # a new password does not lift a lock: keep the new entry aside


def _locked_path(site: Site, name: str) -> Path:
    return site.state_dir / "private" / LOCKED_DIR / f"{name}.smbpasswd"


def locked(site: Site) -> set[str]:
    """The users whose entries are kept aside because they are locked."""
    folder = site.state_dir / "private" / LOCKED_DIR
    return {p.name.removesuffix(".smbpasswd") for p in folder.glob("*.smbpasswd")}


def lock(site: Site, name: str) -> bool:
    """Take `name` out of the passdb while it is locked, keeping its entry (the NT hash, as
    in the passdb itself) in the private directory to put back on unlock. A locked user
    then answers exactly like an unknown one, whatever the password: disabling the account
    instead would tell an attacker when a guess was right (ACCOUNT_DISABLED only then)."""
    conf = str(_conf(site))
    done = subprocess.run(["pdbedit", "-s", conf, "-u", name, "-w"], capture_output=True,
                          text=True, check=False)
    entry = [line for line in done.stdout.splitlines() if line.startswith(f"{name}:")]
    if done.returncode != 0 or not entry:
        return False  # not in the passdb (no password, or kept aside already)
    path = _locked_path(site, name)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_file(path, entry[0] + "\n", mode=0o600)
    return remove(site, name)


def unlock(site: Site, name: str) -> bool:
    """Put a locked user's entry back; False if none was kept aside."""
    path = _locked_path(site, name)
    if not path.exists():
        return False
    done = subprocess.run(["pdbedit", "-s", str(_conf(site)), "-i", f"smbpasswd:{path}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SambaPasswordError(f"Samba did not take back {name!r}: {_why(done)}")
    path.unlink()
    return True


def forget(site: Site, name: str) -> None:
    """Drop a kept-aside entry (the user or its password is gone)."""
    _locked_path(site, name).unlink(missing_ok=True)


def remove(site: Site, name: str) -> bool:
    """Take `name` out of the passdb; False if it was not there."""
    if name not in users(site):
        return False
    done = subprocess.run(["pdbedit", "-s", str(_conf(site)), "-x", "-u", name],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SambaPasswordError(f"Samba did not remove {name!r}: {_why(done)}")
    return True


def users(site: Site) -> list[str]:
    """The names the passdb holds."""
    done = subprocess.run(["pdbedit", "-s", str(_conf(site)), "-L"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SambaPasswordError(f"pdbedit could not list the Samba users: {_why(done)}")
    return sorted(line.split(":", 1)[0] for line in done.stdout.splitlines() if ":" in line)


def _why(done: subprocess.CompletedProcess[str]) -> str:
    text = (done.stderr or done.stdout).strip().splitlines()
    useful = [line for line in text if "tdbsam_open" not in line and "Converting" not in line]
    return "; ".join(useful) or f"exit status {done.returncode}"
