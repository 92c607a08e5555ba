"""Wire format of the control socket, shared by the daemon (server) and nasfs.client.

Newline-delimited JSON over a Unix stream socket; docs/control-protocol.md is the reference.
A request is `{"id": ID, "method": NAME, "params": {...}}`; the answer to it is any number of
`{"id": ID, "progress": {...}}` lines followed by exactly one `{"id": ID, "result": ...}` or
`{"id": ID, "error": {"code": CODE, "message": SENTENCE, "exit": N}}` ("exit" optional).
The codes are the constants of nasfs.wire.codes.
"""

from __future__ import annotations

import json
from typing import Any

# One message may not exceed this many bytes (the newline included); a longer line is an
# error rather than an unbounded buffer in the daemon.
MAX_MESSAGE_BYTES = 1 << 20

PROTOCOL_VERSION = 1


RequestId = int | str | None


def encode_message(message: dict[str, Any]) -> bytes:
    """One message as its line on the wire (compact JSON, UTF-8, trailing newline)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def request(request_id: RequestId, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": request_id, "method": method, "params": params}


def result(request_id: RequestId, value: Any) -> dict[str, Any]:
    return {"id": request_id, "result": value}


def progress(request_id: RequestId, value: dict[str, Any]) -> dict[str, Any]:
    return {"id": request_id, "progress": value}


def error(request_id: RequestId, code: str, message: str,
          exit_code: int | None = None) -> dict[str, Any]:
    """An error answer; `exit_code` (optional) is the `nasfs` exit code the failure means,
    so a command run through the daemon exits as it would offline (nasfs.exitcodes)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if exit_code is not None:
        body["exit"] = exit_code
    return {"id": request_id, "error": body}


class LineBuffer:
    """Splits a byte stream into lines no longer than MAX_MESSAGE_BYTES."""

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self._data = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete lines (without newline) now available.

        Raises ValueError when a line grows past the limit without a newline.
        """
        self._data += data
        lines: list[bytes] = []
        start = 0
        while True:
            end = self._data.find(b"\n", start)
            if end < 0:
                break
            lines.append(bytes(self._data[start:end]))
            start = end + 1
        del self._data[:start]
        if len(self._data) >= self._limit or any(len(line) >= self._limit for line in lines):
            raise ValueError(f"a message is longer than {self._limit} bytes")
        return lines

    @property
    def pending(self) -> int:
        """Bytes received after the last newline."""
        return len(self._data)
