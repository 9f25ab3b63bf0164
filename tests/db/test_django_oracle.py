"""Django's own test suite for its database layer, run on our backend.

Django's source distribution carries the tests that pin its database
semantics. Every module that touches the database layer runs here with both
test databases on `core.db.backends.postgresql` (pooled, its defaults), and
must pass as it does on Django's stock PostgreSQL backend: there is no list
of known differences (docs/data-layer.md, "What stays exactly as in Django").

Django's source is downloaded once per machine (pip, the registry the project
already uses) into the user's cache directory, outside the checkout, so CI's
fresh clones reuse it. The run takes about a minute here untraced; `make
test` traces it with coverage, which doubles that, and a busy shared machine
doubles it again (254 s seen with three other suites running): its timeout is
for a hang, not for a slow machine.
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BASE_DIR = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "widgetworld"
# Within pytest-timeout's 900 s for this test, with room to report.
RUN_TIMEOUT = 840
MODULES = [
    "backends", "transactions", "transaction_hooks", "select_for_update", "queries", "basic",
    "model_fields", "bulk_create", "get_or_create", "postgres_tests", "db_utils", "handlers",
    "servers", "async", "test_utils", "multiple_database",
]  # fmt: skip

SETTINGS = """
_db = {{"ENGINE": "core.db.backends.postgresql", "HOST": "{host}", "PORT": "{port}",
        "USER": "{user}", "PASSWORD": "{password}", "NAME": "django_oracle"}}
DATABASES = {{"default": dict(_db), "other": dict(_db, NAME="django_oracle_other")}}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
"""


def django_tests() -> Path:
    """Django's tests/ folder for the installed version, downloaded once per machine."""
    version = django.get_version()
    folder = CACHE / f"django-{version}"
    if not (folder / "tests" / "runtests.py").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        archive = CACHE / f"django-{version}.tar.gz"
        if not archive.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                 ":all:", f"django=={version}", "--dest", str(CACHE)],
                check=True,
                timeout=300,
            )  # fmt: skip
        # Python 3.11.4+ can refuse links and absolute paths in the archive.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        with tarfile.open(archive) as opened:
            opened.extractall(CACHE, **safe)  # type: ignore[arg-type]
    return folder / "tests"


def test_djangos_own_database_tests_pass_on_our_backend(
    make_postgres: MakePostgres, tmp_path: Path
) -> None:
    tests = django_tests()
    cluster = make_postgres({"max_connections": 100})
    cluster.ensure_database("django_oracle")
    # A superuser: postgres_tests creates extensions (hstore, citext, ...).
    creds = cluster.credentials("django_oracle", admin=True)
    (tmp_path / "oracle_settings.py").write_text(
        SETTINGS.format(host=creds.host, port=creds.port, user=creds.user, password=creds.password)
    )

    # Two processes, as Django's own CI runs it on two cores: each a fork with
    # pools of its own and databases cloned from the first (about a third faster).
    result = subprocess.run(
        [sys.executable, "runtests.py", "--settings=oracle_settings", "--parallel=2",
         "--noinput", *MODULES],
        cwd=tests,
        env={**os.environ, "PYTHONPATH": f"{BASE_DIR}{os.pathsep}{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip

    output = result.stdout + result.stderr
    failed = set(re.findall(r"^(?:FAIL|ERROR): \w+ \(([\w.]+)\)", output, re.MULTILINE))
    ran = re.search(r"^Ran (\d+) tests", output, re.MULTILINE)
    count = int(ran.group(1)) if ran else 0
    assert (count > 2500, failed, result.returncode) == (True, set(), 0), output[-3000:]
