"""Opening the policy databases without a daemon (for the CLI), under the array lock so it
can never race a daemon that is starting."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasfs.config import Config
from nasfs.policy.admin import Actor
from nasfs.policy.hooks import PolicyHooks
from nasfs.policy.service import PolicyService, db_dirs

log = logging.getLogger(__name__)


@contextlib.contextmanager
def open_offline(config: Config, purpose: str, hooks: PolicyHooks) -> Iterator[PolicyService]:
    """The policy service of the (not running) array `config.members`, under its lock, with
    the calls out to the services above that the caller connects (nasfs.policy.hooks).

    Raises ArrayBusy if a daemon (or another offline tool) has the array, and the store's
    AssemblyError if the members do not form an array.
    """
    from nasfs import registry
    from nasfs.store.assembly import assemble

    assembly = assemble([Path(m) for m in config.members])
    uuid = assembly.label.array_uuid
    with registry.ArrayLock.acquire(config.run_dir, uuid, purpose, what=f"array {uuid}"):
        service = PolicyService.open(db_dirs(assembly.present), nparity=assembly.label.nparity,
                                     identity=uuid, hooks=hooks)
        try:
            yield service
        finally:
            service.close()


class OfflineCaller:
    """`call(method, params)` straight into the policy service, as `nasfs.client.Client`
    does over the socket (so `nasfs.client.policy.PolicyClient` works on either)."""

    def __init__(self, service: PolicyService, actor: Actor) -> None:
        self.service = service
        self.actor = actor

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.service.admin.call(method, params or {}, self.actor)
