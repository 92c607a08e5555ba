"""Compare two verbose fsstress logs (`fsstress -v -p 1 -s SEED`), native and nasfs.

usage: posix_fsstress_diff.py NATIVE_LOG NASFS_LOG

fsstress exits 0 even when operations fail, so its verbose log is the only place where a
filesystem's errno shows. The same seed does not give the same operations for long: sizes
it reads back (st_blksize picks the O_DIRECT sizes, st_blocks, file sizes after a refused
fallocate) steer later choices. So the check is per operation kind: every result nasfs
returns for an operation must be one that native returns for it too ("no errno native
does not show"); kinds native never ran cannot be compared. Also printed: how long the
two sequences stay identical. After they part, a flagged result may still be right (e.g.
ENODATA replacing an attribute removed earlier in this run only): read the example line.
Prints one summary line (and the offending examples); exits 1 if nasfs shows a result
native never does.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

# "0/12: fallocate(COLLAPSE_RANGE) f0[...] [117496,889213] 22" -> op 12, name, result 22
_LINE = re.compile(rb"^\d+/(\d+): (\S+)(.*)$")
_RESULT = re.compile(rb"(?:error |failed )?(-?\d+)\s*$")
# Lines that are no result of an operation (bookkeeping of fsstress itself).
_NOISE = (b" add id=", b"xfsctl(XFS_IOC_DIOINFO)", b" entry: id=", b" - no filename",
          b" - files are too small", b" zero size", b"has no extended attributes")

Op = tuple[bytes, bytes, int | None]  # name, line, result code


def results(path: Path) -> dict[int, Op]:
    """Operation number -> (name, line, result code of the last line of that operation)."""
    out: dict[int, Op] = {}
    for line in path.read_bytes().splitlines():
        m = _LINE.match(line)
        if m is None or any(n in line for n in _NOISE):
            continue
        r = _RESULT.search(m.group(3))
        out[int(m.group(1))] = (m.group(2), line, int(r.group(1)) if r else None)
    return out


def by_kind(ops: dict[int, Op]) -> dict[bytes, dict[int | None, bytes]]:
    """Operation name -> {result: first line showing it}."""
    kinds: dict[bytes, dict[int | None, bytes]] = defaultdict(dict)
    for _, (name, line, result) in sorted(ops.items()):
        kinds[name].setdefault(result, line)
    return kinds


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    native, nasfs = results(Path(argv[1])), results(Path(argv[2]))
    same = 0
    for n in sorted(native):
        if n not in nasfs or nasfs[n][0] != native[n][0] or nasfs[n][2] != native[n][2]:
            break
        same += 1
    ours, theirs = by_kind(nasfs), by_kind(native)
    # A kind native never ran (the sequences parted before) cannot be compared.
    extra = [(name, result, line) for name, seen in sorted(ours.items()) if name in theirs
             for result, line in seen.items() if result not in theirs[name]]
    head = (f"ops={len(nasfs)} identical to native for the first {same}, kinds="
            f"{len(ours)}")
    if not extra and nasfs:
        print(f"fsstress -v: PASS {head}; no result native does not show")
        return 0
    kinds = sorted({name.decode("utf-8", "replace") for name, _, _ in extra})
    print(f"fsstress -v: FAIL {head}; results native never shows, in: {' '.join(kinds)}")
    for name, result, line in extra:
        known = sorted(str(r) for r in theirs[name])
        print(f"   {name.decode()} -> {result} (native: {', '.join(known)}): "
              f"{line.decode('utf-8', 'replace')[:140]}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
