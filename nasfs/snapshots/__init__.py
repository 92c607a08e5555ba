"""Snapshot schedules and retention, and the policy state recorded with each snapshot.

The snapshots themselves live in nasfs.fs (`fs.snapshots`); this package decides when to
take them and which ones to let go.
"""
