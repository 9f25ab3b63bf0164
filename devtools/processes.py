"""Stopping what our tools start: asked once, politely, then killed if it will not go."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from types import FrameType
from typing import Any

# How long a child gets to finish (gunicorn: its in-flight requests) once asked to stop.
STOP_TIMEOUT = 30.0


class Shutdown(BaseException):
    """SIGINT or SIGTERM asked the tool to stop; raised once, in the main thread.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception`
    on the way up swallows it.
    """


def stop_once_on_signals(announce: Callable[[str], None]) -> None:
    """From now on the first SIGINT or SIGTERM raises Shutdown; later ones are ignored.

    A second Ctrl-C while the tool is stopping its children must not cut that
    cleanup short and leave a server running. `announce` gets the signal's name.
    """

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        announce(signal.Signals(signum).name)
        raise Shutdown

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def stop_process(
    process: subprocess.Popen[Any],
    *,
    timeout: float = STOP_TIMEOUT,
    sig: signal.Signals = signal.SIGTERM,
) -> int:
    """Send `sig`, wait up to `timeout` seconds, then SIGKILL; the exit status.

    `sig` is SIGTERM for servers (gunicorn finishes its requests) and SIGINT
    for Locust (it writes its reports and judges its gates).
    """
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
