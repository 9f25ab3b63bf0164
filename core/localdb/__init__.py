"""The private PostgreSQL server that development, tests, drills and benchmarks run."""

from core.localdb.cluster import ClusterError, Credentials, PostgresCluster

__all__ = ["ClusterError", "Credentials", "PostgresCluster"]
