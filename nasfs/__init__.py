"""nasfs: a small-office NAS — parity-striped store, FUSE filesystem, policy, snapshots."""

__version__ = "0.1.0"
