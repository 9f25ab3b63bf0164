"""The private PostgreSQL servers that development, tests, drills and benchmarks run."""

from devtools.localdb.cluster import (
    ClusterError,
    Credentials,
    PostgresCluster,
    scratch_dir,
    scratch_workdir,
)
from devtools.localdb.replica import StreamingReplica

__all__ = [
    "ClusterError",
    "Credentials",
    "PostgresCluster",
    "StreamingReplica",
    "scratch_dir",
    "scratch_workdir",
]
