"""The Samba site as the settings describe it (port, interfaces, state directory), and the
NAS-password → Samba-password step the accounts layer takes after every password change."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The passdb tools never look at share paths: a site built for them has no mount.
NO_MOUNT = Path("/nonexistent")


def site_from_settings(settings: dict[str, Any], mountpoint: Path | None = None) -> Any:
    from nasfs.smb.config import Site

    return Site(mountpoint=mountpoint or NO_MOUNT, state_dir=Path(settings["smb.state_dir"]),
                port=int(settings["smb.port"]),
                interfaces=tuple(str(settings["smb.interfaces"]).split()))


def password_changed(settings: dict[str, Any], name: str, password: str | None) -> None:
    """Give Samba the new password of `name` (None: take the user out of Samba's passdb).

    Only with `os.accounts` on: smbd can serve only users the operating system knows.
    """
    from nasfs.smb import passdb

    site = site_from_settings(settings)
    if password is not None:
        if settings["os.accounts"]:
            try:
                passdb.set_password(site, name, password)
            except passdb.SambaPasswordError as exc:
                # Say what did happen: the NAS side is committed already.
                raise passdb.SambaPasswordError(
                    f"the NAS password of {name!r} is set, but not for SMB: {exc}") from None
        return
    if (site.state_dir / "private" / "passdb.tdb").exists():
        passdb.remove(site, name)
        passdb.forget(site, name)
