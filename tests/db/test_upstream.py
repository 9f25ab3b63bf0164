"""The fence around psycopg_pool: an upstream change to what we rely on fails here, by name.

`core/db/backends/postgresql/upstream.py` overrides a few private methods of
psycopg_pool and mirrors the bookkeeping of a few more. Their source is
hashed per version we have read; a new psycopg_pool release, or a changed
method, must be read and vetted before the pin moves.
"""

from __future__ import annotations

import hashlib
import inspect

import psycopg_pool
import pytest
from psycopg_pool.base import AttemptWithBackoff
from psycopg_pool.pool import ConnectionPool

from core.db.backends.postgresql.upstream import VETTED

INSTALLED = psycopg_pool.__version__
OWNERS = {"ConnectionPool": ConnectionPool, "AttemptWithBackoff": AttemptWithBackoff}


def source_hash(qualified: str) -> str:
    owner, method = qualified.split(".")
    source = inspect.getsource(getattr(OWNERS[owner], method))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def test_the_installed_psycopg_pool_has_been_read() -> None:
    assert INSTALLED in VETTED, (
        f"psycopg_pool {INSTALLED} has not been vetted: read the methods listed in "
        "upstream.VETTED in its source, adjust upstream.py, then add its hashes"
    )


@pytest.mark.parametrize("method", sorted(VETTED.get(INSTALLED, {})))
def test_upstream_source_we_rely_on_is_unchanged(method: str) -> None:
    assert source_hash(method) == VETTED[INSTALLED][method], (
        f"psycopg_pool {INSTALLED} changed {method}: read it, adjust upstream.py, "
        "and update its hash in upstream.VETTED"
    )
