"""The metrics directory gunicorn's workers share, owned by the gunicorn master.

prometheus_client's multiprocess mode keeps each worker's values in files
under `PROMETHEUS_MULTIPROC_DIR`; the variable must be set before any worker
imports prometheus_client, and the directory must start empty, or the last
run's counters come back. So `widgetworld/gunicorn.conf.py` calls `prepare()`
as the master loads it (before any fork, even with `preload_app`), marks each
dead worker (`child_exit`) so its live gauges disappear, and `cleanup()`
removes the directory when gunicorn exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"

# The directory this master created (and so removes), and the master's pid.
_owned: Path | None = None
_prepared_by: int | None = None


def directory() -> Path | None:
    """The shared metrics directory, when this process is one of several workers."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def prepare() -> Path:
    """A fresh directory for this gunicorn run, exported to the workers.

    Idempotent in one master: gunicorn re-reads its configuration on SIGHUP,
    and the running workers' files must survive that. An operator's own
    directory (e.g. a tmpfs volume) is used and emptied, never removed.
    """
    global _owned, _prepared_by
    if _prepared_by == os.getpid() and (current := directory()) is not None:
        return current
    configured = directory()
    if configured is None:
        _owned = Path(tempfile.mkdtemp(prefix="widgetworld-metrics-"))
        os.environ[ENV] = str(_owned)
        path = _owned
    else:
        configured.mkdir(parents=True, exist_ok=True)
        for stale in configured.glob("*.db"):
            stale.unlink()
        path = configured
    _prepared_by = os.getpid()
    return path


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def cleanup() -> None:
    """Remove the directory this master created, at gunicorn's exit."""
    if _owned is not None and _prepared_by == os.getpid():
        shutil.rmtree(_owned, ignore_errors=True)
