"""The SMB export's side of the policy hooks (nasfs.policy.hooks): Samba's passdb follows
every NAS password change, and the access log names the client an smbd process serves."""

from __future__ import annotations

from nasfs.policy.hooks import PolicyHooks
from nasfs.smb.clients import client_of
from nasfs.smb.site import password_changed


def samba_hooks() -> PolicyHooks:
    return PolicyHooks(password_changed=password_changed, client_of=client_of)
