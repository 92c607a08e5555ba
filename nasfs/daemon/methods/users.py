"""Control methods `user.*` (accounts), and the glue every policy method group uses: run the
policy layer's administrative function in a worker thread, as the connection's peer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.control import MethodTable, Request
from nasfs.errors import NasfsError
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.daemon.service import Daemon

log = logging.getLogger(__name__)

METHODS = ("user.list", "user.add", "user.del", "user.passwd", "user.unlock")


class PolicyUnavailable(NasfsError):
    """The daemon has no policy databases open (it is starting or stopping)."""

    wire_code = codes.POLICY_UNAVAILABLE


def policy_handler(daemon: Daemon, method: str) -> Callable[[Request], Awaitable[Any]]:
    """A handler that runs `method` of the policy service's AdminApi as the peer."""
    from nasfs.policy.admin import Actor
    from nasfs.policy.service import process_name

    async def handler(request: Request) -> Any:
        service = getattr(daemon, "policy", None)
        if service is None:
            raise PolicyUnavailable("the daemon has not opened the policy databases")
        actor = Actor(request.peer.uid, request.peer.pid, process_name(request.peer.pid))
        # A worker thread: password hashing takes tens of milliseconds, and the policy
        # service serialises database access with its own locks.
        return await trio.to_thread.run_sync(service.admin.call, method, request.params, actor)

    return handler


def register_policy_methods(table: MethodTable, daemon: Daemon, methods: tuple[str, ...]) -> None:
    for method in methods:
        table.add(method, policy_handler(daemon, method))


def register(table: MethodTable, daemon: Daemon) -> None:
    register_policy_methods(table, daemon, METHODS)
