"""Compare two verbose fsstress logs (`fsstress -v -p 1 -s SEED`), native and nasfs.

usage: posix_fsstress_diff.py NATIVE_LOG NASFS_LOG

fsstress exits 0 even when operations fail, so its verbose log is the only place where a
filesystem's errno shows. With one process and the same seed, both runs perform the same
sequence of operations as long as every operation has the same outcome, so the first
operation whose result differs is the bug to look at (later ones may differ as a consequence).
Prints one summary line; exits 1 if any operation's result differs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# "0/12: fallocate(COLLAPSE_RANGE) f0[...] [117496,889213] 22" -> op 12, name, result 22
_LINE = re.compile(rb"^\d+/(\d+): (\S+)(.*)$")
_RESULT = re.compile(rb"(?:error )?(-?\d+)\s*$")


def results(path: Path) -> dict[int, tuple[bytes, bytes, int | None]]:
    """Operation number -> (name, line, result code of the last line of that operation)."""
    out: dict[int, tuple[bytes, bytes, int | None]] = {}
    for line in path.read_bytes().splitlines():
        m = _LINE.match(line)
        if m is None or b" add id=" in line or b"xfsctl(XFS_IOC_DIOINFO)" in line:
            continue
        r = _RESULT.search(m.group(3))
        out[int(m.group(1))] = (m.group(2), line, int(r.group(1)) if r else None)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    native, nasfs = results(Path(argv[1])), results(Path(argv[2]))
    differ = [n for n in sorted(native) if n in nasfs and native[n][2] != nasfs[n][2]]
    missing = [n for n in sorted(native) if n not in nasfs]
    if not differ and not missing and native:
        print(f"fsstress -v: PASS ops={len(native)} (every result the same as native)")
        return 0
    print(f"fsstress -v: FAIL ops={len(native)} differing={len(differ)} missing={len(missing)}")
    for n in differ[:10]:
        print("   native:", native[n][1].decode("utf-8", "replace"))
        print("   nasfs: ", nasfs[n][1].decode("utf-8", "replace"))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
