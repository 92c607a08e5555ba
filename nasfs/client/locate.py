"""Which daemon a program means when it was started with a target, a config file or neither
(the console's command line): finding the daemon is the client's job, so that a front end
needs nothing of nasfs but nasfs.client.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nasfs.config import DEFAULT_CONFIG_PATH, Config, load_config
from nasfs.errors import NasfsError

log = logging.getLogger(__name__)

# What Client.connect accepts: a socket, a mount point, a Config, or None ($NASFS_SOCKET,
# else the default config file).
Target = str | os.PathLike[str] | Config | None


def daemon_target(target: str | None, config_file: Path | None) -> tuple[Target, Path | None]:
    """(what to give Client.connect, the config file that names the array or None).

    A target given (a mount point or socket) is used as it is; so is $NASFS_SOCKET. Else the
    config file (the default one when none is named) says which array: a file that cannot be
    read is logged and leaves the target to Client.connect's own search, so that a front end
    still starts and can tell that no daemon answers.
    """
    if target is not None or os.environ.get("NASFS_SOCKET"):
        return target, config_file
    path = config_file or Path(DEFAULT_CONFIG_PATH)
    try:
        return load_config(path), path
    except (NasfsError, OSError) as exc:
        log.warning("config %s not usable: %s", path, exc)
        return None, path
