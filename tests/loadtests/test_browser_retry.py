"""The users' one retry: a GET whose kept-alive connection the server closed, as browsers do."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from loadtests.users import RETRY

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class Server:
    """Answers the first request of every connection, then closes it on the next one.

    So a client that reuses a connection finds it closed as gunicorn's
    keep-alive timeout closes it; `silent` answers nothing at all.
    """

    def __init__(self, *, silent: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.silent = silent
        self.connections = 0
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def handle(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            if self.silent:
                connection.recv(65536)
                return
            connection.sendall(OK)
            connection.recv(65536)  # the next request on this connection: hang up on it


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        for adapter in session.adapters.values():
            adapter.max_retries = RETRY  # type: ignore[attr-defined]
        yield session


def test_a_get_on_a_connection_closed_under_it_is_sent_again(session: requests.Session) -> None:
    server = Server()
    session.get(server.url, timeout=5)

    assert (session.get(server.url, timeout=5).status_code, server.connections) == (200, 2)


def test_a_post_is_never_sent_twice(session: requests.Session) -> None:
    server = Server()
    session.get(server.url, timeout=5)

    with pytest.raises(requests.ConnectionError):
        session.post(server.url, data={"a": "b"}, timeout=5)


def test_a_timeout_is_not_retried(session: requests.Session) -> None:
    server = Server(silent=True)

    with pytest.raises(requests.ReadTimeout):
        session.get(server.url, timeout=0.5)
    assert server.connections == 1
