"""Attributes of the folders whose listing differs per caller: the root (hidden shares) and
a `homes` share's folder, live or in a snapshot (other users' home folders).

Their stored link count counts every subfolder and their stored times move whenever an
entry is made or removed in them, so both would tell a caller that a folder they may not
see was made (and when, and how many there are). Shown to every caller, administrators
included, with link count 1 ("not counted", as btrfs reports for its directories) and every
time set to the folder's birth time: the same answer for everyone, so the kernel may cache
it for anyone (the root's attributes are shared by every caller)."""

from __future__ import annotations

import dataclasses

from nasfs.fs import Attributes


def same_for_everyone(a: Attributes) -> Attributes:
    """`a` as every caller is shown it (see the module docstring)."""
    t = a.crtime_ns
    return dataclasses.replace(a, nlink=1, atime_ns=t, mtime_ns=t, ctime_ns=t)
