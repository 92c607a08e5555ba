"""The FUSE adapter: pyfuse3 Operations over nasfs.fs, and `serve` to mount it."""

from nasfs.fuse.operations import Operations
from nasfs.fuse.serve import MountError, serve

__all__ = ["MountError", "Operations", "serve"]
