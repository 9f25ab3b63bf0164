"""The 2023 incident, replayed against five ways of connecting, and WidgetWorld with its cache.

`python -m loadtests.bench.incident` (part of `make bench`).

One command, one machine, one catalog, one load, one run for every setup
(loadtests/bench/configs.py): the 2023 static pool, Django's default (a
connection per request), Django's native pool, WidgetWorld, and PgBouncer in
transaction mode, all with the page cache off (`CACHE_URL=dummy://`) so the
data layer is compared like for like; then WidgetWorld with the shared cache
on, warmed as a deploy leaves it. Three scenarios, each against a PostgreSQL with password
authentication (scram-sha-256) over TCP, as production has:

- **steady**: a constant load on a roomy server: throughput, latency, and how
  many server connections each setup holds per 100 requests/s;
- **spike**: the incident: a baseline, a sudden surge to many times it on a
  server with a small `max_connections`, then the baseline again, probed
  second by second until it is served as before (time to recover);
- **scaleout**: load held while the app's processes double (gunicorn TTIN),
  as an autoscaler would, with more threads than `max_connections`.

The load generator is wrk (one thread, sharing the machine's cores with the
app and the database) requesting a mix of product, listing and search pages
on fresh TCP connections, so that keep-alive cannot pin clients to one
worker. Server connections are sampled ten times a second from
`pg_stat_activity`; "too many clients" refusals are counted from the
server's log. Prints a table per scenario and rewrites the `incident`
section of docs/benchmarks.md, with the targets met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from devtools import console
from devtools.databases import scratch_database
from devtools.localcache import local_cache
from devtools.localdb import PostgresCluster, scratch_workdir
from devtools.localdb.cluster import unprivileged_user
from devtools.servers import Gunicorn, Process, ServerError, manage, serving, wait_for
from loadtests.bench.configs import CACHED, SETUPS, cache_environment
from loadtests.bench.record import machine, record
from loadtests.gates import ALL, load_gates

COMPARED = [
    "2023", "django-default", "django-pool", "widgetworld", "widgetworld-fixed", "pgbouncer",
    "widgetworld-cache", "widgetworld-cache-50ms",
]  # fmt: skip
# WidgetWorld's own variants are not "another setup" when its targets are judged.
OURS = {"widgetworld", "widgetworld-fixed", *CACHED}
PASSWORD = "bench-password"
HEADROOM = 4  # WidgetWorld's default, used for every setup's budget line
WRK_SCRIPT = Path(__file__).with_name("wrk_mix.lua")
TOO_MANY = ("too many clients", "remaining connection slots are reserved")

say = functools.partial(console.say, "incident")


@dataclass(frozen=True)
class Scenario:
    name: str
    max_connections: int
    workers: int
    threads: int
    clients: int  # wrk connections in the main phase
    seconds: int
    baseline_clients: int = 0  # spike: before and after the surge
    baseline_seconds: int = 0
    double_after: int = 0  # scaleout: seconds into the run when workers double

    @property
    def budget(self) -> int:
        return self.max_connections - 3 - HEADROOM


def scenarios(quick: bool) -> list[Scenario]:
    scale = 0.5 if quick else 1.0

    def s(seconds: int) -> int:
        return max(5, int(seconds * scale))

    return [
        Scenario("steady", 100, workers=2, threads=8, clients=32, seconds=s(30)),
        Scenario(
            "spike", 20, workers=4, threads=8, clients=96, seconds=s(20),
            baseline_clients=8, baseline_seconds=s(15),
        ),
        Scenario(
            "scaleout", 40, workers=6, threads=8, clients=200, seconds=s(50),
            double_after=s(15),
        ),
    ]  # fmt: skip


@dataclass
class Load:
    """What wrk saw in one phase."""

    requests: int
    seconds: float
    statuses: dict[str, int]
    errors: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # Answers the page cache marked stale (its last good copy).
    stale: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def count(self, *, status: int | None = None, server_errors: bool = False) -> int:
        """Answers with `status`, or every 5xx but a 503 with Retry-After (shed load)."""
        if server_errors:
            return sum(n for s, n in self.statuses.items() if s.startswith("5") and s != "503")
        return self.statuses.get(str(status), 0)


@dataclass
class Outcome:
    setup: str
    scenario: Scenario
    main: Load
    baseline: Load | None = None
    recovery_seconds: float | None = None
    too_many_clients: int = 0
    peak_total: int = 0
    peak_ours: int = 0
    mean_ours: float = 0.0
    workers_after: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    @property
    def errors(self) -> dict[str, int]:
        load = self.main
        return {
            "5xx": load.count(server_errors=True),
            "503": load.count(status=503),
            "refused": load.errors.get("connect", 0),
            "timeouts": load.errors.get("timeout", 0),
            "too many clients": self.too_many_clients,
        }

    @property
    def per_100_rps(self) -> float:
        return 100 * self.mean_ours / self.main.rps if self.main.rps else 0.0


class ConnectionSampler:
    """Server connections ten times a second, on one superuser connection kept open."""

    def __init__(self, cluster: PostgresCluster) -> None:
        self._conn = cluster.admin_connect()
        self._stop = threading.Event()
        self.samples: list[tuple[float, int, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.1):
            total, ours = self._conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE application_name NOT LIKE '%-monitor/%'"
                " AND usename = 'widgetworld') FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()  # type: ignore[misc]
            self.samples.append((time.monotonic() - started, total, ours))

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


class PgBouncer(Process):
    """Debian's PgBouncer in transaction mode, pooling up to the server's budget."""

    def __init__(self, cluster: PostgresCluster, workdir: Path, pool_size: int) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise ServerError("pgbouncer is not installed (Debian package: pgbouncer)")
        folder = workdir / "pgbouncer"
        folder.mkdir(exist_ok=True)
        (folder / "userlist.txt").write_text(f'"widgetworld" "{PASSWORD}"\n')
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"widgetworld = host=127.0.0.1 port={cluster.port} dbname=widgetworld\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\nlisten_port = 0\nunix_socket_dir =\n"  # the kernel picks
            "auth_type = scram-sha-256\n"
            f"auth_file = {folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmax_client_conn = 900\n"
            "server_reset_query =\nignore_startup_parameters = options\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
        )
        user = unprivileged_user()  # PgBouncer, like PostgreSQL, will not run as root
        if user is not None:
            for path in (folder, *folder.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
        args = [binary, str(folder / "pgbouncer.ini")]
        if user is not None:
            args = ["runuser", "-u", user.pw_name, "--", *args]
        super().__init__(args, dict(os.environ), workdir / "pgbouncer.out", folder)
        try:
            self.port = self.wait_until_listening(15)
            wait_for("pgbouncer to answer", self._answering, 15)
        except ServerError:
            self.stop()
            raise

    def _answering(self) -> bool:
        url = f"postgres://widgetworld:{PASSWORD}@127.0.0.1:{self.port}/widgetworld"
        try:
            psycopg.connect(url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True


def wrk(url: str, paths: Path, clients: int, seconds: float) -> Load:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(WRK_SCRIPT), url, "--", str(paths)],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )  # fmt: skip
    marker = result.stdout.split("WRK_JSON ", 1)
    if len(marker) < 2:
        raise ServerError(f"wrk gave no result: {result.stdout[-500:]} {result.stderr[-500:]}")
    data = json.loads(marker[1].splitlines()[0])
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        statuses={str(k): v for k, v in data["statuses"].items()},
        errors=data["errors"],
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        stale=data.get("stale", 0),
    )


def recovered(probe: Load, baseline: Load) -> bool:
    """Served as before the surge: no error, and p99 within twice the baseline's (+50 ms)."""
    clean = probe.count(status=503) == 0 and probe.count(server_errors=True) == 0
    clean = clean and not any(probe.errors.values())
    return clean and probe.requests > 0 and probe.p99_ms <= 2 * baseline.p99_ms + 50


@contextlib.contextmanager
def app(
    setup: str, url: str, scenario: Scenario, workdir: Path, pgbouncer_port: int, cache_url: str
) -> Iterator[Gunicorn]:
    with serving(
        url,
        workdir / f"gunicorn-{setup}-{scenario.name}.log",
        DJANGO_SETTINGS_MODULE="loadtests.bench.settings",
        BENCH_SETUP=setup,
        **cache_environment(setup, cache_url),
        BENCH_PGBOUNCER_PORT=str(pgbouncer_port),
        WEB_CONCURRENCY=str(scenario.workers),
        WEB_THREADS=str(scenario.threads),
        ACCESS_LOG="false",
        # Not quieter: the master says where /metrics listens at INFO, and
        # Gunicorn.wait_until_serving waits for that line.
        LOG_LEVEL="INFO",
    ) as server:
        yield server


def too_many_clients(log: Path, offset: int) -> int:
    with log.open(errors="replace") as text:
        text.seek(offset)
        return sum(1 for line in text if any(marker in line for marker in TOO_MANY))


def run_one(
    setup: str,
    scenario: Scenario,
    cluster: PostgresCluster,
    paths: Path,
    workdir: Path,
    cache_url: str,
) -> Outcome:
    url = cluster.credentials("widgetworld").url
    bouncer: PgBouncer | None = None
    if setup == "pgbouncer":
        bouncer = PgBouncer(cluster, workdir, pool_size=scenario.budget)
    if setup in CACHED:
        # Each run starts from what a deploy leaves: an empty cache, then warm_cache.
        redis.Redis.from_url(cache_url).flushdb()
        manage(url, "warm_cache", CACHE_URL=cache_url)
    try:
        port = bouncer.port if bouncer else 0
        with app(setup, url, scenario, workdir, port, cache_url) as server:
            wrk(server.url, paths, 4, 3)  # warm up: caches, templates, first connections
            log_offset = cluster.log_file.stat().st_size
            with ConnectionSampler(cluster) as sampler:
                outcome = drive(setup, scenario, server, paths)
            outcome.too_many_clients = too_many_clients(cluster.log_file, log_offset)
            outcome.samples = sampler.samples
            outcome.peak_total = max((t for _, t, _ in sampler.samples), default=0)
            outcome.peak_ours = max((o for _, _, o in sampler.samples), default=0)
            outcome.mean_ours = statistics.fmean(o for _, _, o in sampler.samples)
            outcome.workers_after = len(server.worker_pids())
    finally:
        if bouncer is not None:
            bouncer.stop()
    return outcome


def drive(setup: str, scenario: Scenario, server: Gunicorn, paths: Path) -> Outcome:
    if scenario.baseline_clients:
        baseline = wrk(server.url, paths, scenario.baseline_clients, scenario.baseline_seconds)
        main = wrk(server.url, paths, scenario.clients, scenario.seconds)
        outcome = Outcome(setup, scenario, main, baseline=baseline)
        surge_ended = time.monotonic()
        for _ in range(30):
            probe = wrk(server.url, paths, scenario.baseline_clients, 1)
            if recovered(probe, baseline):
                outcome.recovery_seconds = time.monotonic() - surge_ended
                break
        return outcome
    if scenario.double_after:
        timer = threading.Timer(scenario.double_after, double_workers, args=(server,))
        timer.start()
        try:
            main = wrk(server.url, paths, scenario.clients, scenario.seconds)
        finally:
            timer.cancel()
        return Outcome(setup, scenario, main)
    return Outcome(setup, scenario, wrk(server.url, paths, scenario.clients, scenario.seconds))


def double_workers(server: Gunicorn) -> None:
    """What an autoscaler does: as many processes again (gunicorn adds one per TTIN)."""
    for _ in range(server.workers):
        server.popen.send_signal(signal.SIGTTIN)
        time.sleep(0.2)


def spike_gate_ms() -> float:
    """The spike release suite's p99 gate for all requests (loadtests/gates.toml)."""
    gates = load_gates("spike")
    return gates.latency[ALL].p99_ms


# -- reporting -----------------------------------------------------------------


def scenario_table(outcomes: list[Outcome]) -> str:
    scenario = outcomes[0].scenario
    spike = scenario.baseline_clients > 0
    head = [
        "Setup", "req/s", "p50 ms", "p95 ms", "p99 ms", "5xx", "503", "refused",
        "timeouts", "too many clients", "peak server conns", "peak ours",
        "ours per 100 req/s",
    ]  # fmt: skip
    if spike:
        head.append("recovery")
    if scenario.double_after:
        head.append("workers")
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for o in outcomes:
        e = o.errors
        cells = [
            SETUPS[o.setup].label, f"{o.main.rps:.0f}", f"{o.main.p50_ms:.0f}",
            f"{o.main.p95_ms:.0f}", f"{o.main.p99_ms:.0f}", str(e["5xx"]), str(e["503"]),
            str(e["refused"]), str(e["timeouts"]), str(e["too many clients"]),
            f"{o.peak_total} / {scenario.max_connections}", f"{o.peak_ours} / {scenario.budget}",
            f"{o.per_100_rps:.1f}",
        ]  # fmt: skip
        if spike:
            cells.append(
                f"{o.recovery_seconds:.1f} s" if o.recovery_seconds is not None else "> 30 s"
            )
        if scenario.double_after:
            cells.append(f"{scenario.workers} → {o.workers_after}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results: dict[str, list[Outcome]]) -> list[tuple[str, bool, str]]:
    """The issue's targets for WidgetWorld, each with met/missed and the numbers."""

    def of(scenario: str, setup: str) -> Outcome:
        return next(o for o in results[scenario] if o.setup == setup)

    checks: list[tuple[str, bool, str]] = []
    spike = of("spike", "widgetworld")
    e = spike.errors
    others = e["5xx"] + e["refused"] + e["timeouts"]
    shed = e["503"] / spike.main.requests if spike.main.requests else 0
    checks.append(
        ("Spike: no error but 503", others == 0, f"{others} other errors"),
    )
    checks.append(("Spike: under 1% 503", shed < 0.01, f"{shed:.2%} 503"))
    spiked = [o for o in results["spike"] if o.setup not in OURS]
    best_p99 = min(spiked, key=lambda o: o.main.p99_ms)
    checks.append(
        (
            "Spike: p99 at or below the best other setup",
            spike.main.p99_ms <= best_p99.main.p99_ms,
            f"{spike.main.p99_ms:.0f} ms vs {best_p99.main.p99_ms:.0f} ms "
            f"({SETUPS[best_p99.setup].label})",
        )
    )
    for name in results:
        o = of(name, "widgetworld")
        checks.append(
            (
                f"{name.capitalize()}: peak WidgetWorld connections within the budget",
                o.peak_ours <= o.scenario.budget,
                f"{o.peak_ours} of {o.scenario.budget}",
            )
        )
    steady = results["steady"]
    ww = of("steady", "widgetworld")
    default = of("steady", "django-default")
    best = max((o for o in steady if o.setup not in OURS), key=lambda o: o.main.rps)
    native = of("steady", "django-pool")
    checks.append(
        (
            "Steady: at least as fast as the best other setup",
            ww.main.rps >= best.main.rps,
            f"{ww.main.rps / best.main.rps - 1:+.1%} vs {SETUPS[best.setup].label}",
        )
    )
    checks.append(
        (
            "Steady: fewer connections per 100 req/s than Django's pool",
            ww.per_100_rps < native.per_100_rps,
            f"{ww.per_100_rps:.1f} vs {native.per_100_rps:.1f}",
        )
    )
    checks.append(
        (
            "Steady: at least 3x the throughput of CONN_MAX_AGE=0",
            ww.main.rps >= 3 * default.main.rps,
            f"{ww.main.rps / default.main.rps:.2f}x",
        )
    )
    gate = spike_gate_ms()
    checks.append(
        (
            f"Spike: p99 below the spike suite's gate ({gate:g} ms)",
            spike.main.p99_ms < gate,
            f"{spike.main.p99_ms:.0f} ms",
        )
    )
    scale = of("scaleout", "widgetworld")
    # What clients saw; the server's refusals are in the table, not here.
    scale_errors = sum(v for k, v in scale.errors.items() if k != "too many clients")
    checks.append(("Scale-out: zero errors", scale_errors == 0, f"{scale_errors} errors"))
    checks.append(
        ("Scale-out: p99 at most 1 s", scale.main.p99_ms <= 1000, f"{scale.main.p99_ms:.0f} ms")
    )
    if "widgetworld-cache" in {o.setup for o in steady}:
        checks += cache_targets(of)
    return checks


def cache_targets(of: Callable[[str, str], Outcome]) -> list[tuple[str, bool, str]]:
    """Issue 9's targets for WidgetWorld with cache, against WidgetWorld without, same run."""
    cached, plain = of("steady", "widgetworld-cache"), of("steady", "widgetworld")
    scale = of("scaleout", "widgetworld-cache")
    scale_errors = sum(v for k, v in scale.errors.items() if k != "too many clients")
    ratio = cached.main.rps / plain.main.rps if plain.main.rps else 0.0
    return [
        (
            "With cache, steady: at least 5x the throughput of WidgetWorld without",
            ratio >= 5,
            f"{ratio:.1f}x ({cached.main.rps:.0f} vs {plain.main.rps:.0f} req/s)",
        ),
        ("With cache, scale-out: zero errors", scale_errors == 0, f"{scale_errors} errors"),
        (
            "With cache, scale-out: p99 at most 1 s",
            scale.main.p99_ms <= 1000,
            f"{scale.main.p99_ms:.0f} ms",
        ),
    ]


def render(results: dict[str, list[Outcome]], command: str, measured_on: str) -> str:
    parts = [
        "## The 2023 incident, replayed",
        "",
        f"Measured with `make bench` (`{command}`) on: {measured_on}. One run, all setups, "
        "same machine, same catalog (10,000 widgets), same load.",
        "",
        "PostgreSQL with password authentication (scram-sha-256) over TCP. The app under "
        "gunicorn with `widgetworld/gunicorn.conf.py` (gthread), access log off. Load from "
        "wrk with one thread, on the same 2 cores as the app and the database (so every "
        "setup pays the same tax), requesting product, listing and search pages "
        "(`loadtests/bench/wrk_mix.lua`) on a fresh TCP connection each, so keep-alive "
        "cannot pin clients to one worker; `--timeout 10s`. *Peak server conns* counts "
        "every client backend against `max_connections`; *peak ours* the app's "
        "connections against the budget (`max_connections` - 3 reserved - 4 headroom); "
        "*ours per 100 req/s* is the mean of the app's connections over the run per "
        "100 requests/s. *too many clients* counts the server's refusals in its log. "
        "Only *WidgetWorld with cache* uses the shared cache (emptied, then warmed with "
        "`manage.py warm_cache` before each of its runs); every other setup runs with "
        "`CACHE_URL=dummy://`, so the connection strategies are compared like for like.",
        "",
        "Setups:",
        "",
        *[f"- **{SETUPS[s].label}**: {SETUPS[s].description}" for s in COMPARED],
    ]
    for name, outcomes in results.items():
        s = outcomes[0].scenario
        if name == "steady":
            what = f"{s.clients} clients for {s.seconds} s"
        elif name == "spike":
            what = (
                f"{s.baseline_clients} clients for {s.baseline_seconds} s, then "
                f"{s.clients} for {s.seconds} s (the row), then {s.baseline_clients} again, "
                "probed each second until served as before (no error, p99 within twice the "
                "baseline's + 50 ms)"
            )
        else:
            what = (
                f"{s.clients} clients for {s.seconds} s; after {s.double_after} s the app "
                "doubles its processes"
            )
        parts += [
            "",
            f"### {name.capitalize()}: {s.workers} workers x {s.threads} threads, "
            f"max_connections={s.max_connections}; {what}",
            "",
            scenario_table(outcomes),
        ]
    parts += ["", "### WidgetWorld against its targets", "", "| Target | Met | Measured |"]
    parts += ["| --- | --- | --- |"]
    parts += [f"| {t} | {'yes' if ok else '**no**'} | {m} |" for t, ok, m in targets(results)]
    return "\n".join(parts)


def request_mix(cluster: PostgresCluster, workdir: Path) -> Path:
    """The request mix wrk draws from, written from the seeded catalog."""
    with cluster.admin_connect("widgetworld") as conn:
        slugs = [
            r[0]
            for r in conn.execute(
                "SELECT slug FROM catalog_widget WHERE is_active ORDER BY random() LIMIT 300"
            )
        ]
        categories = [r[0] for r in conn.execute("SELECT path FROM catalog_category")]
    terms = ["sprocket", "brass gear", "steel", "gizmo", "sprokcet", "copper bracket", "flange"]
    mix = [f"/widgets/{slug}/" for slug in slugs]  # half product pages
    mix += [f"/c/{c}/?page={n}" for c in categories for n in (1, 2)][: len(slugs) * 3 // 5]
    mix += [f"/search/?q={t.replace(' ', '+')}" for t in terms] * (len(slugs) // 20)
    paths = workdir / "paths.txt"
    paths.write_text("\n".join(mix) + "\n")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.incident", description=__doc__)
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="half the durations")
    parser.add_argument("--setups", default=",".join(COMPARED))
    parser.add_argument("--scenarios", default="steady,spike,scaleout")
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args(argv)
    setups = options.setups.split(",")
    if shutil.which("wrk") is None:
        say("wrk is not installed (Debian package: wrk)")
        return 2

    seed = ("--widgets", str(options.widgets), "--seed", "1")
    results: dict[str, list[Outcome]] = {}
    try:
        with (
            scratch_workdir("widgetworld-incident-") as workdir,
            scratch_database(
                workdir / "postgres", seed=seed, auth="scram-sha-256", password=PASSWORD
            ) as database,
            local_cache(workdir / "cache") as cache,
        ):
            cluster = database.cluster
            paths = request_mix(cluster, workdir)
            with cluster.admin_connect() as conn:
                version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            chosen = options.scenarios.split(",")
            for scenario in [s for s in scenarios(options.quick) if s.name in chosen]:
                cluster.reconfigure(max_connections=scenario.max_connections)
                for setup in setups:
                    say(f"{scenario.name} / {setup}")
                    results.setdefault(scenario.name, []).append(
                        run_one(setup, scenario, cluster, paths, workdir, cache.url)
                    )
                sys.stdout.write(f"\n{scenario.name}\n{scenario_table(results[scenario.name])}\n")
    except ServerError as error:
        say(str(error))
        return 1

    if set(setups) >= set(COMPARED) and set(results) == {"steady", "spike", "scaleout"}:
        for target, ok, measured in targets(results):
            sys.stdout.write(f"{'MET   ' if ok else 'MISSED'} {target}: {measured}\n")
        if not options.no_record:
            command = "python -m loadtests.bench.incident" + (" --quick" if options.quick else "")
            record("incident", render(results, command, machine(version)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
