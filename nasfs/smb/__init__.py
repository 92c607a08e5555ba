"""The SMB export: Samba configuration generated from the policy (see docs/smb.md)."""
