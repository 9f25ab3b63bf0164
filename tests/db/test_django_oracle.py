"""Django's own test suites for transactions and backends, run on our backend.

Django's source distribution carries the tests that pin its database
semantics. They pass here except for a short, explained list: the places
where pooling by default is, on purpose, different.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import django
import pytest

from tests.conftest import MakePostgres

pytestmark = pytest.mark.slow

BASE_DIR = Path(__file__).resolve().parents[2]
CACHE = BASE_DIR / ".data" / "django-source"
SUITES = ["transactions", "backends", "select_for_update", "queries", "get_or_create"]

# Test ids that fail by design, and why.
KNOWN_DIFFERENCES = {
    # These build a "no pool" connection by removing OPTIONS["pool"]; here
    # pooling is the default, so the copy shares the pool of its alias.
    "backends.postgresql.tests.Tests.test_connect_custom_cursor_factory",
    "backends.postgresql.tests.Tests.test_connect_server_side_binding",
    "backends.postgresql.tests.Tests.test_connect_role",
    "backends.postgresql.tests.Tests.test_connect_pool_with_timezone",
    # Expects psycopg_pool.PoolTimeout; ours is a DatabaseError, distinct
    # from a dead database (docs/data-layer.md).
    "backends.postgresql.tests.Tests.test_connect_pool",
}

SETTINGS = """
_db = {{"ENGINE": "core.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": "{port}",
        "USER": "widgetworld", "NAME": "django_oracle"}}
DATABASES = {{"default": dict(_db), "other": dict(_db, NAME="django_oracle_other")}}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
"""


def django_tests() -> Path:
    """Django's tests/ folder for the installed version, downloaded once."""
    version = django.get_version()
    tests = CACHE / f"django-{version}" / "tests"
    if not tests.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", f"django=={version}", "--dest", str(CACHE)],
            check=True,
            timeout=300,
        )  # fmt: skip
        # Python 3.11.4+ can refuse links and absolute paths in the archive.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        with tarfile.open(CACHE / f"django-{version}.tar.gz") as archive:
            archive.extractall(CACHE, **safe)  # type: ignore[arg-type]
    return tests


def test_djangos_own_database_tests_pass_on_our_backend(
    make_postgres: MakePostgres, tmp_path: Path
) -> None:
    tests = django_tests()
    cluster = make_postgres({"max_connections": 100})
    (tmp_path / "oracle_settings.py").write_text(SETTINGS.format(port=cluster.port))

    result = subprocess.run(
        [sys.executable, "runtests.py", "--settings=oracle_settings", "--parallel=1",
         "--noinput", *SUITES],
        cwd=tests,
        env={**os.environ, "PYTHONPATH": f"{BASE_DIR}{os.pathsep}{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip

    output = result.stdout + result.stderr
    failed = set(re.findall(r"^(?:FAIL|ERROR): \w+ \(([\w.]+)\)", output, re.MULTILINE))
    ran = re.search(r"^Ran (\d+) tests", output, re.MULTILINE)
    count = int(ran.group(1)) if ran else 0
    assert (count > 900, failed - KNOWN_DIFFERENCES) == (True, set()), output[-3000:]
