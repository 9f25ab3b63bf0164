"""`make loadtest SUITE=smoke`: one release suite, headless, with reports and the gates' verdicts.

`python -m loadtests.run --suite NAME [--target URL] [--reports DIR]`.

With a target (TARGET_URL) it only runs Locust against it. Without one it
brings up a stack of its own, on loopback and in a temporary folder, the way
production runs: PostgreSQL (`max_connections` = 30, so that after a scale-out
the app has more threads than connections to share), migrated, seeded with
3,000 widgets and analysed; WidgetWorld under gunicorn with
`widgetworld/gunicorn.conf.py`, access log off. For `scaleout`, a second
gunicorn joins on the same port (SO_REUSEPORT) when the shape says so, as an
autoscaler would add a pod; new visitors' connections spread over both.

Reports go to `reports/<suite>-<timestamp>/`: Locust's HTML report and CSV
files, the gates' verdicts (`locust_gates.csv`), Locust's output and the
stack's logs. Whatever happens, Ctrl-C included, everything started here is
stopped; every suite has a fixed duration, and a hard timeout stops Locust if
it overruns it.

Exit status: 0 every gate passed, 1 a gate failed, 2 the suite could not run,
3 Locust overran its hard timeout, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from devtools import console
from devtools.databases import scratch_database
from devtools.localcache import CacheServerError, local_cache
from devtools.localdb import scratch_workdir
from devtools.localdb.cluster import ClusterError
from devtools.processes import Shutdown, stop_once_on_signals, stop_process
from devtools.servers import Gunicorn, ServerError, manage
from loadtests.gates import read_csv
from loadtests.suites import DEFAULT_SUITE, SCALE_OUT_MARK, SUITES, Suite

BASE_DIR = Path(__file__).resolve().parent.parent
LOCUSTFILE = BASE_DIR / "loadtests" / "locustfile.py"
SEED = ("--widgets", "3000", "--categories", "24", "--seed", "1")
MAX_CONNECTIONS = 30
# Locust's start (reading the catalog) and end (stopping users, writing
# reports), on top of the suite's own duration, before the hard timeout.
GRACE_SECONDS = 120
# How long Locust gets to write its reports once asked to stop.
STOP_SECONDS = 30

# Exit statuses of our own (Locust gives 0 and 1 for the gates, 2 when it cannot start).
CANNOT_RUN, TIMED_OUT, INTERRUPTED = 2, 3, 130


class LoadTestError(RuntimeError):
    """The suite cannot run as asked: one line for the terminal."""


say = functools.partial(console.say, "loadtest")


def target_url(value: str) -> str:
    """TARGET_URL as Locust's --host: http(s), a host, no path."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise LoadTestError(
            f"TARGET_URL={value!r}: expected the site's root, such as https://staging.example.com"
        )
    return f"{parts.scheme}://{parts.netloc}"


class OwnStack:
    """WidgetWorld under gunicorn on one loopback port; more processes can join on it."""

    def __init__(self, database_url: str, cache_url: str, logs: Path, *, reuse_port: bool) -> None:
        self.database_url = database_url
        self.cache_url = cache_url
        self.logs = logs
        # Shared by every gunicorn, so a session cookie signed by one is good at the other.
        self.secret = secrets.token_urlsafe(50)
        self.args = ["--reuse-port"] if reuse_port else []
        self.apps: list[Gunicorn] = []

    @property
    def url(self) -> str:
        return self.apps[0].url

    def add_app(self) -> Gunicorn:
        port = {"PORT": str(self.apps[0].port)} if self.apps else {}
        app = Gunicorn(
            self.database_url,
            self.logs / f"gunicorn-{len(self.apps) + 1}.log",
            args=self.args,
            ACCESS_LOG="false",
            SECRET_KEY=self.secret,
            CACHE_URL=self.cache_url,
            # Locust stands where the proxy would: its X-Forwarded-For names each visitor.
            TRUSTED_PROXIES="127.0.0.1/32",
            **port,
        )
        self.apps.append(app)
        app.wait_until_serving()
        return app

    def scale_out(self) -> None:
        started = time.monotonic()
        app = self.add_app()
        say(
            f"scaleout: gunicorn {len(self.apps)} ({app.workers} workers) serving on port "
            f"{app.port} after {time.monotonic() - started:.1f} s"
        )

    def stop(self) -> None:
        for app in reversed(self.apps):
            app.stop()


@contextlib.contextmanager
def own_stack(reports: Path, suite: Suite) -> Iterator[OwnStack]:
    """PostgreSQL, a cache and WidgetWorld, stopped and removed whatever happens."""
    with scratch_workdir("widgetworld-load-") as workdir:
        say(f"starting PostgreSQL (max_connections={MAX_CONNECTIONS}) in {workdir}")
        say(f"migrating, then seed_catalog {' '.join(SEED)}")
        with (
            scratch_database(
                workdir / "postgres",
                seed=SEED,
                keep_log=reports / "postgres.log",
                settings={"max_connections": MAX_CONNECTIONS},
            ) as database,
            local_cache(workdir / "cache") as cache,
        ):
            # As a deploy leaves the cache: the pages shoppers open first, rendered.
            say("manage.py warm_cache")
            manage(database.url, "warm_cache", CACHE_URL=cache.url)
            scale = suite.scale_out_at is not None
            stack = OwnStack(database.url, cache.url, reports, reuse_port=scale)
            try:
                stack.add_app()
                say(f"WidgetWorld serving on {stack.url} with widgetworld/gunicorn.conf.py")
                yield stack
            finally:
                stack.stop()


def locust_command(suite: Suite, host: str, reports: Path) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", host, "--suite", suite.name,
        "--csv", str(reports / "locust"), "--csv-full-history",
        "--html", str(reports / "report.html"),
    ]  # fmt: skip


def run_locust(suite: Suite, host: str, reports: Path, scale_out: Callable[[], None] | None) -> int:
    """Locust's exit status; its output goes to the terminal and to locust.log."""
    process = subprocess.Popen(
        locust_command(suite, host, reports),
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own session: Ctrl-C reaches us, and we stop Locust after it has written its reports.
        start_new_session=True,
    )
    scale_now = threading.Event()

    def tee() -> None:
        assert process.stdout is not None
        with (reports / "locust.log").open("w") as log:
            for line in process.stdout:
                log.write(line)
                sys.stdout.write(line)
                if SCALE_OUT_MARK in line:
                    scale_now.set()

    reader = threading.Thread(target=tee, daemon=True)
    reader.start()
    deadline = time.monotonic() + suite.duration + GRACE_SECONDS
    try:
        while process.poll() is None:
            if scale_now.is_set() and scale_out is not None:
                scale_out()
                scale_out = None
            if time.monotonic() > deadline:
                say(f"Locust overran {suite.duration + GRACE_SECONDS:.0f} s: stopping it")
                stop_locust(process)
                return TIMED_OUT
            time.sleep(0.2)
    except BaseException:
        stop_locust(process)
        raise
    finally:
        reader.join(timeout=5)
    return process.returncode


def stop_locust(process: subprocess.Popen[str]) -> None:
    """SIGINT, on which Locust writes its reports and judges what it has; then SIGKILL."""
    stop_process(process, timeout=STOP_SECONDS, sig=signal.SIGINT)


def summary(suite: Suite, reports: Path, code: int) -> None:
    gates_file = reports / "locust_gates.csv"
    if gates_file.exists():
        verdicts = read_csv(gates_file)
        failed = sum(not verdict.passed for verdict in verdicts)
        outcome = f"{failed} of {len(verdicts)} gates FAILED" if failed else "every gate PASSED"
        sys.stdout.write(
            f"\n{suite.name}: {outcome}\n" + "".join(f"  {v.line()}\n" for v in verdicts)
        )
    else:
        say(f"no verdicts: Locust exited with {code} before judging (see {reports}/locust.log)")
    sys.stdout.write(f"Reports: {reports}/report.html and {reports}/\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__)
    parser.add_argument("--suite", choices=sorted(SUITES), default=DEFAULT_SUITE)
    parser.add_argument("--target", default="", help="the site to test (TARGET_URL); else our own")
    parser.add_argument("--reports", type=Path, help="default reports/<suite>-<timestamp>/")
    options = parser.parse_args(argv)
    suite = SUITES[options.suite]
    reports: Path = options.reports or BASE_DIR / "reports" / (
        f"{suite.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    )
    # SIGTERM (CI cancelling, `timeout`) stops everything as Ctrl-C does.
    stop_once_on_signals(lambda name: say(f"{name}: stopping Locust, then the stack"))
    try:
        host = target_url(options.target) if options.target else ""
        reports.mkdir(parents=True, exist_ok=True)
        minutes, users = suite.duration / 60, suite.peak_users
        say(f"{suite.name}: {suite.purpose} ({minutes:g} min, up to {users} users)")
        if host:
            if suite.scale_out_at is not None:
                say(
                    f"add app processes to {host} yourself when Locust logs "
                    f"'{SCALE_OUT_MARK}' ({suite.scale_out_at:.0f} s in)"
                )
            code = run_locust(suite, host, reports, scale_out=None)
        else:
            with own_stack(reports, suite) as stack:
                scale = stack.scale_out if suite.scale_out_at is not None else None
                code = run_locust(suite, stack.url, reports, scale_out=scale)
    except Shutdown:
        say(f"interrupted: everything started was stopped; what Locust saw is in {reports}")
        return INTERRUPTED
    except (LoadTestError, ServerError, ClusterError, CacheServerError, psycopg.Error) as error:
        say(f"error: {error}")
        return CANNOT_RUN
    summary(suite, reports, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
