"""CSV export of the access and system logs, for spreadsheets.

Encodings: `utf-8`, `utf-8-sig` (with a byte-order mark, so Excel recognises UTF-8) and
`cp932` (Excel on Japanese Windows). A character the encoding cannot hold is written as a
backslash escape (`\\u00e9`, `\\U0001f600`), and path bytes that are not UTF-8 as `\\xNN`:
never dropped, never replaced by '?'.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from nasfs.policy.auditstore import LogRow, display_bytes
from nasfs.policy.errors import InvalidValue

log = logging.getLogger(__name__)

ENCODINGS = ("utf-8", "utf-8-sig", "cp932")
HEADER = ("id", "time_utc", "user", "uid", "pid", "process", "client", "share", "path",
          "second_path", "operation", "result", "bytes", "admin_access", "detail")


def format_time(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds, as spreadsheets parse it."""
    moment = datetime.datetime.fromtimestamp(time_ns / 1e9, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def csv_fields(row: LogRow) -> list[str]:
    def text(value: object) -> str:
        return "" if value is None else str(value)

    return [str(row.id), format_time(row.time_ns), text(row.user), text(row.uid),
            text(row.pid), text(row.process), text(row.client), text(row.share),
            display_bytes(row.path) or "", display_bytes(row.second_path) or "",
            row.operation, row.result, text(row.bytes), "yes" if row.admin else "",
            text(row.detail)]


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise InvalidValue(f"export encoding {encoding!r} is not supported; use one of "
                           f"{', '.join(ENCODINGS)}")
    return encoding


def write_csv(rows: Iterable[LogRow], target: Path, encoding: str = "utf-8") -> int:
    """Write `rows` with a header to `target` (atomically: a temporary file renamed into
    place). Returns the number of rows written."""
    check_encoding(encoding)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    count = 0
    with open(tmp, "w", encoding=encoding, errors="backslashreplace", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(csv_fields(row))
            count += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    return count


def encode_csv(rows: Iterable[LogRow], encoding: str = "utf-8") -> bytes:
    """The same CSV as bytes (for small exports, e.g. to stdout)."""
    check_encoding(encoding)
    buffer = io.BytesIO()
    wrapper = io.TextIOWrapper(buffer, encoding=encoding, errors="backslashreplace",
                               newline="")
    writer = csv.writer(wrapper)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(csv_fields(row))
    wrapper.flush()
    data = buffer.getvalue()
    wrapper.detach()
    return data


def has_bom(data: bytes) -> bool:
    return data.startswith(codecs.BOM_UTF8)


def json_row_fields(row: dict[str, object]) -> list[str]:
    """CSV fields of a row as `log.query` returns it (paths already shown as text)."""
    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None else str(value)

    time_ns = row.get("time_ns")
    return [text("id"), format_time(time_ns) if isinstance(time_ns, int) else "",
            text("user"), text("uid"), text("pid"), text("process"), text("share"),
            text("path"), text("second_path"), text("operation"), text("result"),
            text("bytes"), "yes" if row.get("admin") else "", text("detail")]


def write_csv_stream(rows: Iterable[dict[str, object]], out: BinaryIO, encoding: str) -> int:
    """Write `log.query` rows as CSV (with header) to the binary stream `out`."""
    check_encoding(encoding)
    wrapper = io.TextIOWrapper(out, encoding=encoding, errors="backslashreplace", newline="")
    writer = csv.writer(wrapper)
    writer.writerow(HEADER)
    count = 0
    for row in rows:
        writer.writerow(json_row_fields(row))
        count += 1
    wrapper.flush()
    wrapper.detach()
    return count
