"""`/metrics` on a port of its own, served by the gunicorn master, never by the shop's port.

A proxy in front of the shop forwards its public port; whatever it does with
headers or addresses, it never forwards this one, so no request from the
internet can reach the metrics (the 2023 set-up counted every request
relayed by a proxy on the same host as "internal"). Served by the master
rather than a worker, a scrape also never waits behind shoppers for a worker
thread: during a surge, when the numbers matter most, they still arrive.

The master reads every worker's files through prometheus_client's
multiprocess collector; the workers keep their gauges fresh themselves
(core/metrics/sampler.py). The monitoring network and token rules still
apply here (core/access.py), as a second fence.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler, make_wsgi_app

from core.access import address_on, bearer_matches
from core.http.proxies import parse_address
from core.metrics.multiprocess import directory

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PATH = "/metrics"


def registry() -> CollectorRegistry:
    """Every worker's metrics under gunicorn; this process's own otherwise."""
    if directory() is None:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def metrics_app(networks: Iterable[Network], token: str) -> WSGIApp:
    """The exposition at `/metrics` for allowed networks or the bearer token; 403, 404 otherwise."""
    allowed_networks = list(networks)
    exposition = make_wsgi_app(registry())

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return _plain(start_response, "404 Not Found", "not found: try /metrics\n")
        address = parse_address(environ.get("REMOTE_ADDR", ""))
        if not (
            bearer_matches(environ.get("HTTP_AUTHORIZATION", ""), token)
            or address_on(address, allowed_networks)
        ):
            return _plain(
                start_response,
                "403 Forbidden",
                "forbidden: not on an allowed network and no valid bearer token\n",
            )
        return exposition(environ, start_response)

    return app


def _plain(start_response: StartResponse, status: str, text: str) -> Iterator[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    yield text.encode()


class MetricsServer:
    """A small threaded HTTP server for `metrics_app`; port 0 lets the OS pick."""

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        self._server: WSGIServer = make_server(
            host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-exporter", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close_socket(self) -> None:
        """In a forked worker: let go of the inherited socket; only the master serves it."""
        self._server.socket.close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
