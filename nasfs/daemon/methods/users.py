"""Control methods `user.*` (accounts), and the glue every policy method group uses: run the
policy layer's administrative function in a worker thread, as the connection's peer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.control import MethodTable, Request
from nasfs.policy.admin import Actor
from nasfs.policy.service import process_name

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)

METHODS = ("user.list", "user.add", "user.del", "user.passwd", "user.unlock")


def policy_handler(daemon: DaemonHost, method: str) -> Callable[[Request], Awaitable[Any]]:
    """A handler that runs `method` of the policy service's AdminApi as the peer."""
    async def handler(request: Request) -> Any:
        service = daemon.policy  # ArrayNotOpen (policy_unavailable) while starting/stopping
        actor = Actor(request.peer.uid, request.peer.pid, process_name(request.peer.pid))
        # A worker thread: password hashing takes tens of milliseconds, and the policy
        # service serialises database access with its own locks.
        return await trio.to_thread.run_sync(service.admin.call, method, request.params, actor)

    return handler


def register_policy_methods(table: MethodTable, daemon: DaemonHost,
                            methods: tuple[str, ...]) -> None:
    for method in methods:
        table.add(method, policy_handler(daemon, method))


def register(table: MethodTable, daemon: DaemonHost) -> None:
    register_policy_methods(table, daemon, METHODS)
