"""The private PostgreSQL server that development, tests, drills and benchmarks run."""

from devtools.localdb.cluster import (
    ClusterError,
    Credentials,
    PostgresCluster,
    scratch_dir,
    scratch_workdir,
)

__all__ = ["ClusterError", "Credentials", "PostgresCluster", "scratch_dir", "scratch_workdir"]
