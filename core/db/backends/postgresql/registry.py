"""One pool per database alias per process, and never one inherited through fork.

Django keeps its pools in a class attribute, so a pool opened in a gunicorn
master (say by `preload_app` code that queries at import) is copied into every
worker, sockets included, and used by all of them at once. Here a fork empties
the registry in the child: the copies are kept referenced (closing them would
send a Terminate message down sockets the parent still uses) and never
touched again; the child opens its own pool on first use.

Django also keeps an alias's first pool whatever its OPTIONS say later; here
a pool whose options no longer match the alias's live OPTIONS["pool"] is
replaced (and closed), so pool sizes set after construction, or in
`override_settings`, take effect.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.db.backends.postgresql.options import PoolOptions
    from core.db.backends.postgresql.pool import AdaptivePool

_pools: dict[str, AdaptivePool] = {}
_lock = threading.Lock()
# Objects copied from a parent process: referenced forever, used never.
_inherited: list[Any] = []


def get(alias: str, options: PoolOptions, create: Callable[[], AdaptivePool]) -> AdaptivePool:
    pool = _pools.get(alias)
    if pool is not None and (pool.options is options or pool.options == options):
        return pool
    with _lock:
        stale = _pools.get(alias)
        if stale is not None and stale.options == options:
            return stale
        pool = _pools[alias] = create()
    if stale is not None:
        stale.close()
    return pool


def close(alias: str) -> None:
    with _lock:
        pool = _pools.pop(alias, None)
    if pool is not None:
        pool.close()


def close_all() -> None:
    """Close every pool of this process: at worker exit, and in a master before it forks."""
    for alias in list(_pools):
        close(alias)


def keep_inherited(obj: Any) -> None:
    """Keep a connection copied from the parent alive and unused (see module docstring)."""
    _inherited.append(obj)


def _forget_inherited_pools() -> None:
    global _lock
    # A lock held by another thread at fork time would stay locked forever.
    _lock = threading.Lock()
    _inherited.extend(_pools.values())
    _pools.clear()


os.register_at_fork(after_in_child=_forget_inherited_pools)
atexit.register(close_all)
