"""A server that accepts the connection and never answers: the connect fails, it does not hang.

libpq waits for ever by default; the backend gives every new connection a
`connect_timeout` unless OPTIONS sets one (docs/data-layer.md). The hung
server is a real listening socket that never says a word.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.db import OperationalError, connection
from pytest_django import DjangoDbBlocker

from core.db.backends.postgresql.base import DatabaseWrapper
from core.db.backends.postgresql.options import DEFAULT_CONNECT_TIMEOUT


@pytest.fixture
def hung_server() -> Iterator[int]:
    """Completes TCP handshakes (the kernel's backlog) and never reads or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def wrapper_at() -> Iterator[Any]:
    """`wrapper_at(port, **OPTIONS)`: a copy of the test connection aimed elsewhere."""
    made: list[DatabaseWrapper] = []

    def make(port: int, **options: Any) -> DatabaseWrapper:
        wrapper = cast(DatabaseWrapper, connection.copy(f"elsewhere-{len(made)}"))
        wrapper.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
        wrapper.settings_dict["OPTIONS"].update(options)
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        wrapper.close()
        wrapper.close_pool()


# A connect that hung instead would be failed by this, long after the 5 s default.
@pytest.mark.timeout(60)
def test_a_hung_server_fails_the_connect_instead_of_holding_it(
    wrapper_at: Any, hung_server: int, django_db_blocker: DjangoDbBlocker
) -> None:
    wrapper = wrapper_at(hung_server, pool=False)

    with django_db_blocker.unblock(), pytest.raises(OperationalError, match="timeout expired"):
        wrapper.ensure_connection()


def test_pooled_connections_open_with_the_same_timeout(wrapper_at: Any, hung_server: int) -> None:
    wrapper = wrapper_at(hung_server)

    assert (wrapper.pool is not None, wrapper.get_connection_params()["connect_timeout"]) == (
        True,
        DEFAULT_CONNECT_TIMEOUT,
    )


def test_a_connect_timeout_in_options_wins(wrapper_at: Any, hung_server: int) -> None:
    wrapper = wrapper_at(hung_server, pool=False, connect_timeout=0)

    assert wrapper.get_connection_params()["connect_timeout"] == 0
