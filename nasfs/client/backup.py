"""Calls for the `backup.*` control methods (the table is in nasfs.backup.service).

Results are the methods' JSON (dicts and lists) as documented in docs/backup.md. Never
imports trio (the console uses it from threads).
"""

from __future__ import annotations

from typing import Any, Protocol


class Caller(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


class BackupClient:
    def __init__(self, client: Caller) -> None:
        self.client = client

    def add(self, job: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return dict(self.client.call("backup.add", {"job": job, **extra}))

    def edit(self, name: str, changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return dict(self.client.call("backup.edit", {"name": name, "changes": changes,
                                                     **extra}))

    def delete(self, name: str) -> None:
        self.client.call("backup.del", {"name": name})

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.client.call("backup.list", {}))

    def status(self, name: str | None = None) -> list[dict[str, Any]]:
        return list(self.client.call("backup.status", {"name": name}))

    def run(self, name: str, *, wait: bool = True) -> dict[str, Any]:
        return dict(self.client.call("backup.run", {"name": name, "wait": wait}))

    def cancel(self, name: str) -> dict[str, Any]:
        return dict(self.client.call("backup.cancel", {"name": name}))

    def generations(self, name: str, generation: str | None = None,
                    path: str | None = None) -> list[dict[str, Any]]:
        return list(self.client.call("backup.generations", {
            "name": name, "generation": generation, "path": path}))

    def verify(self, name: str, generation: str | None = None) -> dict[str, Any]:
        return dict(self.client.call("backup.verify", {"name": name,
                                                       "generation": generation}))

    def restore(self, name: str, path: str, generation: str | None = None,
                to: str | None = None) -> dict[str, Any]:
        return dict(self.client.call("backup.restore", {
            "name": name, "path": path, "generation": generation, "to": to}))

    def key(self) -> str:
        return str(self.client.call("backup.key", {})["public_key"])

    def disks(self) -> list[dict[str, Any]]:
        return list(self.client.call("backup.disks", {}))
