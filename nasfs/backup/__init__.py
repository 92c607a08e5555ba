"""Backups off the array: jobs that copy a share (or a folder inside one) from a snapshot to
a USB disk, a folder, another box over ssh, or a cloud remote, in dated generations.

User guide and contracts: docs/backup.md.
"""
