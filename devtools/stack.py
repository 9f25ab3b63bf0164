"""Run WidgetWorld on this machine the way production runs it.

`python -m devtools.stack serve` (what `make run` calls) starts the
project's own PostgreSQL unless DATABASE_URL names a server, with
`--replicas N` (`make run REPLICAS=N`) N streaming replicas of it unless
DATABASE_REPLICA_URLS names some, and its own cache server (Valkey or Redis,
devtools/localcache) unless CACHE_URL names one, migrates, seeds the demo
catalog when it is empty, collects static files and serves with gunicorn.
Ctrl-C or SIGTERM stops gunicorn, then the servers it started: nothing is
left running. `python -m devtools.stack manage ARGS` runs a management
command against the same database.

Written by hand because no tool does "our PostgreSQL, then our app, stopped
in order"; honcho and friends start processes side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import psycopg
from django.core.exceptions import ImproperlyConfigured

from devtools import console
from devtools.databases import DATABASE
from devtools.localcache import CacheServer, CacheServerError
from devtools.localdb import StreamingReplica
from devtools.localdb.cluster import ClusterError, PostgresCluster, port_is_free
from devtools.processes import Shutdown, stop_once_on_signals, stop_process
from devtools.servers import GUNICORN

# What `serve` runs before gunicorn, in order.
PREPARE_COMMANDS: list[list[str]] = [
    ["migrate", "--noinput"],
    ["seed_catalog", "--if-empty", "--widgets", "3000", "--categories", "24"],
    ["collectstatic", "--noinput", "--verbosity", "0"],
    # The pages shoppers hit first, into the cache server started above (after
    # collectstatic: pages name the static files by their hashed names).
    ["warm_cache"],
]


class StackError(RuntimeError):
    """Something the developer can fix, said in one line."""


say = functools.partial(console.say, "widgetworld")


class LocalStack:
    """The database and the processes one `serve` or `manage` owns."""

    def __init__(self, settings: ModuleType) -> None:
        self.settings = settings
        self.base_dir: Path = settings.BASE_DIR
        self.cluster = PostgresCluster(settings.DATA_DIR / "postgres")
        self.owner_file = self.cluster.root / "owner.pid"
        self.cache_server = CacheServer(settings.DATA_DIR / "cache")
        self.cache_owner_file = self.cache_server.root / "owner.pid"

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """The database URL to use, with our own cluster running while it is in use."""
        explicit = os.environ.get("DATABASE_URL")
        if explicit:
            check_database(explicit)
            yield explicit
            return
        owned = self._start_cluster()
        try:
            yield self.cluster.ensure_database(DATABASE).url
        finally:
            if owned:
                say("stopping PostgreSQL")
                self.cluster.stop()
                self.owner_file.unlink(missing_ok=True)

    def _start_cluster(self) -> bool:
        """Start (or adopt) the cluster; True when this process must stop it."""
        if not self.cluster.initialized:
            say(f"creating a PostgreSQL cluster in {self.cluster.root} ({self.cluster.bindir})")
            self.cluster.init()
        if self.cluster.is_running() and _alive(self._owner()):
            say(f"using the PostgreSQL already running on port {self.cluster.port}")
            return False
        self.cluster.start()
        self.owner_file.write_text(str(os.getpid()))
        say(f"PostgreSQL running on 127.0.0.1:{self.cluster.port} ({self.cluster.data_dir})")
        return True

    def _owner(self) -> int | None:
        return _read_pid(self.owner_file)

    @contextlib.contextmanager
    def replicas(self, count: int) -> Iterator[str]:
        """DATABASE_REPLICA_URLS to use: the environment's, or `count` replicas of our cluster.

        A replica is a copy of the primary (`pg_basebackup`) that keeps
        nothing of its own, so it is made again at every start and removed at
        the end: it can never be a copy of an older cluster, or too far
        behind to catch up.
        """
        explicit = os.environ.get("DATABASE_REPLICA_URLS", "")
        if explicit or not count:
            if explicit and count:
                say("DATABASE_REPLICA_URLS is set: using it instead of starting replicas")
            yield explicit
            return
        if os.environ.get("DATABASE_URL"):
            raise StackError(
                "REPLICAS starts replicas of make run's own PostgreSQL; with DATABASE_URL set, "
                "set DATABASE_REPLICA_URLS to your server's replicas instead"
            )
        started: list[StreamingReplica] = []
        try:
            for number in range(1, count + 1):
                replica = StreamingReplica(
                    self.settings.DATA_DIR / f"postgres-replica-{number}", self.cluster
                )
                replica.destroy()
                say(f"copying PostgreSQL to a streaming replica in {replica.root}")
                started.append(replica)
                replica.init()
                replica.wait_caught_up()
                say(f"replica{number} streaming on 127.0.0.1:{replica.port}")
            yield ",".join(replica.credentials(DATABASE).url for replica in started)
        finally:
            if started:
                say("stopping the replicas")
            for replica in started:
                replica.destroy()

    @contextlib.contextmanager
    def cache(self) -> Iterator[str]:
        """The cache URL to use, with our own cache server running while it is in use."""
        explicit = os.environ.get("CACHE_URL")
        if explicit:
            yield explicit
            return
        server = self.cache_server
        owned = not (server.is_running() and _alive(_read_pid(self.cache_owner_file)))
        if owned:
            server.start()
            self.cache_owner_file.write_text(str(os.getpid()))
            say(f"cache server running on {server.url} ({server.root})")
        else:
            say(f"using the cache server already running on {server.url}")
        try:
            yield server.url
        finally:
            if owned:
                say("stopping the cache server")
                server.stop()
                self.cache_owner_file.unlink(missing_ok=True)

    def manage(self, env: dict[str, str], *args: str) -> int:
        return run_child([sys.executable, "manage.py", *args], env, self.base_dir)

    def serve(self, env: dict[str, str]) -> int:
        for command in PREPARE_COMMANDS:
            say("manage.py " + " ".join(command))
            if code := self.manage(env, *command):
                raise StackError(f"manage.py {command[0]} failed with exit code {code}")
        replicas = (
            env["DATABASE_REPLICA_URLS"].count(",") + 1 if env["DATABASE_REPLICA_URLS"] else 0
        )
        say(
            f"serving on http://{self.settings.HOST}:{self.settings.PORT}/ "
            f"({self.settings.WEB_CONCURRENCY} workers x {self.settings.WEB_THREADS} threads"
            + (f", catalog reads from {replicas} replica(s)" if replicas else "")
            + "); Ctrl-C stops everything"
        )
        return run_child(GUNICORN, env, self.base_dir)


def environment(database_url: str, replica_urls: str, cache_url: str) -> dict[str, str]:
    """What the children get: the servers this run uses."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_REPLICA_URLS": replica_urls,
        "CACHE_URL": cache_url,
    }


def run_child(args: Sequence[str], env: dict[str, str], cwd: Path) -> int:
    """Run a child to completion; on Shutdown, stop it gracefully before passing it on."""
    child = subprocess.Popen(args, env=env, cwd=cwd)
    try:
        return child.wait()
    except Shutdown:
        stop_process(child)
        raise


def check_database(url: str) -> None:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise StackError(f"cannot connect to DATABASE_URL: {reason}") from None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load_settings() -> ModuleType:
    try:
        from widgetworld import settings
    except (ImproperlyConfigured, ValueError) as error:
        raise StackError(f"invalid configuration: {error}") from None
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="migrate, seed, collect static files and serve with gunicorn"
    )
    serve.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="start this many streaming replicas of the local PostgreSQL and read from them",
    )
    manage = commands.add_parser("manage", help="run a management command against the database")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)

    # `make run` is a local run unless the environment says otherwise.
    os.environ.setdefault("WIDGETWORLD_ENV", "local")
    stop_once_on_signals(lambda name: say(f"{name} received, stopping"))
    try:
        settings = _load_settings()
        stack = LocalStack(settings)
        if options.command == "serve":
            for variable in ("PORT", "METRICS_PORT"):
                host = settings.HOST if variable == "PORT" else settings.METRICS_HOST
                port = getattr(settings, variable)
                if port and not port_is_free(port, host):
                    raise StackError(
                        f"{host}:{port} is already in use "
                        f"(another `make run`?): stop it or set {variable} to a free port"
                    )
        replicas = options.replicas if options.command == "serve" else 0
        if replicas < 0:
            raise StackError(f"REPLICAS={replicas}: a number of replicas, 0 or more")
        with (
            stack.database() as url,
            stack.replicas(replicas) as replica_urls,
            stack.cache() as cache_url,
        ):
            env = environment(url, replica_urls, cache_url)
            if options.command == "serve":
                return stack.serve(env)
            return stack.manage(env, *options.args)
    except Shutdown:
        return 0
    except (StackError, ClusterError, CacheServerError) as error:
        say(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
