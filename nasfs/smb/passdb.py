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
from nasfs.smb.apply import write_file
from nasfs.smb.config import Site, directories, passdb_config

PASSDB_CONF = "passdb.conf"


class SambaPasswordError(NasfsError):
    """smbpasswd or pdbedit refused a change."""


def _conf(site: Site) -> Path:
    for d in directories(site):
        d.mkdir(parents=True, exist_ok=True)
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
