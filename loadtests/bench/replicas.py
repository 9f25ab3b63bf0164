"""Read replicas under load: the same shop and the same load, with and without a streaming replica.

`python -m loadtests.bench.replicas` (part of `make bench`).

A primary and a streaming replica (`pg_basebackup -R`) on this machine,
`max_connections` 40 each, seeded with 10,000 widgets; WidgetWorld under
gunicorn as production runs it (4 workers x 8 threads); wrk (one thread, a
fresh TCP connection per request) sending the incident replay's mix of
product, category and search pages, plus one request in ten to the cart page,
which reads from the primary. Two setups at the same load (the same number of
wrk connections), each run twice in alternation so that drift in the
machine's load falls on both:

- **primary only**: `DATABASE_URL` alone, as before read replicas;
- **primary + replica**: `DATABASE_REPLICA_URLS` names the replica.

For each run: throughput, p50 and p99, statuses; where the reads went, from
each server's own count of transactions in the shop's database
(`pg_stat_database.xact_commit`, read after gunicorn has stopped, so every
backend has reported) and from the app's routing counter; WidgetWorld's
connections on each server, sampled twice a second, against each server's
budget.

On one machine both servers, gunicorn and wrk share the same cores: a replica
adds capacity only when it has cores of its own. Read the result as
correctness under load (no error, reads on the replica, each budget kept) and
a per-server connection picture; the throughput and p99 ratios are the cost
of routing and of a second server's work on the same cores, not a speed-up.
Prints the tables and rewrites the `replicas` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devtools.console import say
from devtools.databases import ReplicatedDatabase, replicated_database
from devtools.localcache import local_cache
from devtools.localdb import PostgresCluster, scratch_workdir
from devtools.servers import Gunicorn, ServerError, wait_for
from loadtests.bench.incident import PASSWORD, Load, request_mix, wrk
from loadtests.bench.record import machine, record

MAX_CONNECTIONS = 40
RESERVED, HEADROOM = 3, 4  # PostgreSQL's superuser_reserved_connections, WidgetWorld's default
BUDGET = MAX_CONNECTIONS - RESERVED - HEADROOM
SETUPS = ("primary only", "primary + replica")
SERVERS = ("primary", "replica")
# One request in this many goes to the cart page, which reads from the primary.
CART_EVERY = 10


@dataclass(frozen=True)
class Plan:
    workers: int
    threads: int
    clients: int  # wrk connections
    seconds: float  # each measured run
    rounds: int  # each setup runs this many times, alternating

    @classmethod
    def default(cls, quick: bool) -> Plan:
        if quick:
            return cls(workers=2, threads=4, clients=8, seconds=5, rounds=1)
        return cls(workers=4, threads=8, clients=32, seconds=30, rounds=2)


@dataclass
class Run:
    setup: str
    round: int
    load: Load
    # Transactions each server committed in the shop's database during the run.
    transactions: dict[str, int] = field(default_factory=dict)
    # The app's own count: requests' reads by (alias, reason).
    routes: dict[tuple[str, str], float] = field(default_factory=dict)
    # WidgetWorld's connections on each server, at most, over the run.
    peaks: dict[str, int] = field(default_factory=dict)

    @property
    def replica_share(self) -> float:
        """Of the transactions both servers committed, the replica's."""
        total = sum(self.transactions.values())
        return self.transactions.get("replica", 0) / total if total else 0.0

    @property
    def routed_to_replica(self) -> float:
        """Of the requests whose reads were routed, the share that went to a replica."""
        total = sum(self.routes.values())
        replica = sum(n for (alias, _), n in self.routes.items() if alias != "default")
        return replica / total if total else 0.0

    @property
    def errors(self) -> int:
        """Answers no shopper should get: 5xx but 503 with Retry-After, and no answer."""
        return self.load.count(server_errors=True) + sum(self.load.errors.values())


def transactions(cluster: PostgresCluster) -> int:
    with cluster.admin_connect() as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'widgetworld'"
        ).fetchone()
    return int(row[0]) if row else 0


def ours(cluster: PostgresCluster) -> int:
    with cluster.admin_connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'widgetworld/%'"
        ).fetchone()
    return int(row[0]) if row else 0


def read_routes(metrics: str) -> dict[tuple[str, str], float]:
    found = re.finditer(
        r'^widgetworld_db_read_routes_total\{(?=[^}]*alias="([^"]+)")(?=[^}]*reason="([^"]+)")'
        r"[^}]*\} (\S+)$",
        metrics,
        re.MULTILINE,
    )
    routes: dict[tuple[str, str], float] = {}
    for match in found:
        key = (match.group(1), match.group(2))
        routes[key] = routes.get(key, 0.0) + float(match.group(3))
    return routes


class Bench:
    def __init__(self, pair: ReplicatedDatabase, paths: Path, workdir: Path, plan: Plan) -> None:
        self.pair = pair
        self.servers = {"primary": pair.primary, "replica": pair.replica}
        self.paths = paths
        self.workdir = workdir
        self.plan = plan

    def run(self, setup: str, number: int) -> Run:
        env = {
            "WEB_CONCURRENCY": str(self.plan.workers),
            "WEB_THREADS": str(self.plan.threads),
            "ACCESS_LOG": "false",
        }
        if setup == "primary + replica":
            env["DATABASE_REPLICA_URLS"] = self.pair.replica_url
        log = self.workdir / f"gunicorn-{setup.replace(' ', '')}-{number}.log"
        # Each run starts from an empty page cache, then the warm-up below: no
        # setup is served the copies the one before it made.
        redis.Redis.from_url(os.environ["CACHE_URL"]).flushdb()
        server = Gunicorn(self.pair.url, log, **env)
        try:
            server.wait_until_serving()
            wrk(server.url, self.paths, 4, 3)  # warm up: templates, caches, first connections
            before = {name: transactions(cluster) for name, cluster in self.servers.items()}
            peaks = dict.fromkeys(SERVERS, 0)
            stop = threading.Event()
            sampler = threading.Thread(target=self._sample, args=(peaks, stop))
            sampler.start()
            try:
                load = wrk(server.url, self.paths, self.plan.clients, self.plan.seconds)
            finally:
                stop.set()
                sampler.join()
            routes = read_routes(server.metrics())
        finally:
            server.stop()
        # Backends report their counts as they exit; then the numbers are whole.
        wait_for("the app's connections to close", self._all_closed, 30)
        after = {name: transactions(cluster) for name, cluster in self.servers.items()}
        return Run(
            setup,
            number,
            load,
            transactions={name: after[name] - before[name] for name in SERVERS},
            routes=routes,
            peaks=peaks,
        )

    def _all_closed(self) -> bool:
        return all(ours(cluster) == 0 for cluster in self.servers.values())

    def _sample(self, peaks: dict[str, int], stop: threading.Event) -> None:
        while not stop.wait(0.5):
            for name, cluster in self.servers.items():
                peaks[name] = max(peaks[name], ours(cluster))


# -- reporting ---------------------------------------------------------------------------


def runs_table(runs: list[Run]) -> str:
    lines = [
        "| Setup | Round | Requests/s | p50 (ms) | p99 (ms) | 200 | 503 + Retry-After "
        "| Errors | Transactions on the replica (server count) | Reads routed to the replica "
        f"(app count) | Peak WidgetWorld connections: primary / replica (budget {BUDGET} each) |",
        "| --- | ---: |" + " ---: |" * 9,
    ]
    for r in runs:
        with_replica = r.setup == "primary + replica"
        lines.append(
            f"| {r.setup} | {r.round} | {r.load.rps:.0f} | {r.load.p50_ms:.0f} "
            f"| {r.load.p99_ms:.0f} | {r.load.count(status=200)} | {r.load.count(status=503)} "
            f"| {r.errors} | {r.replica_share:.0%} "
            f"| {f'{r.routed_to_replica:.0%}' if with_replica else '—'} "
            f"| {r.peaks['primary']} / {r.peaks['replica']} |"
        )
    return "\n".join(lines)


def medians(runs: list[Run], setup: str) -> tuple[float, float]:
    mine = [r for r in runs if r.setup == setup]
    return statistics.median(r.load.rps for r in mine), statistics.median(
        r.load.p99_ms for r in mine
    )


def summary_table(runs: list[Run]) -> str:
    alone_rps, alone_p99 = medians(runs, SETUPS[0])
    both_rps, both_p99 = medians(runs, SETUPS[1])
    return "\n".join(
        [
            "| | Primary only | Primary + replica | Ratio |",
            "| --- | ---: | ---: | ---: |",
            f"| Requests/s (median of runs) | {alone_rps:.0f} | {both_rps:.0f} "
            f"| {both_rps / alone_rps if alone_rps else 0:.2f} |",
            f"| p99 (ms, median of runs) | {alone_p99:.0f} | {both_p99:.0f} "
            f"| {both_p99 / alone_p99 if alone_p99 else 0:.2f} |",
        ]
    )


def targets(runs: list[Run]) -> list[tuple[str, bool, str]]:
    with_replica = [r for r in runs if r.setup == SETUPS[1]]
    errors = sum(r.errors for r in runs)
    share = min((r.replica_share for r in with_replica), default=0.0)
    over = [
        f"{r.setup} round {r.round}: {name} {r.peaks[name]}"
        for r in runs
        for name in SERVERS
        if r.peaks.get(name, 0) > BUDGET
    ]
    return [
        ("No error but 503 with Retry-After", errors == 0, f"{errors} errors"),
        (
            "Most of the transactions on the replica when it is there",
            share > 0.5,
            f"at least {share:.0%} of both servers' transactions",
        ),
        (
            "Each server's WidgetWorld connections within its own budget",
            not over,
            "; ".join(over) or f"every sample within {BUDGET}",
        ),
    ]


def render(runs: list[Run], plan: Plan, command: str, measured_on: str, load_average: str) -> str:
    return "\n".join(
        [
            "## Read replicas: the catalog on a streaming replica, against the primary alone",
            "",
            f"Measured with `make bench` (`{command}`) on: {measured_on}, **under contention**: "
            "both PostgreSQL servers, gunicorn and wrk share the machine's 2 cores (and other "
            f"engineers' work: load average {load_average}). Compare within the run, not with "
            "other sections.",
            "",
            f"A primary and a streaming replica, `max_connections` {MAX_CONNECTIONS} each "
            f"(budget {BUDGET} each: {MAX_CONNECTIONS} - {RESERVED} reserved - {HEADROOM} "
            f"headroom); gunicorn {plan.workers} workers x {plan.threads} threads; wrk with "
            f"{plan.clients} connections for {plan.seconds:g} s per run, the incident replay's "
            f"page mix plus the cart page (1 request in {CART_EVERY}, read from the primary); "
            f"each setup {plan.rounds} time(s), alternating.",
            "",
            "### Against the targets",
            "",
            "| Target | Met | Measured |",
            "| --- | --- | --- |",
            *[f"| {name} | {'yes' if ok else '**no**'} | {m} |" for name, ok, m in targets(runs)],
            "",
            "### Same load, with and without the replica",
            "",
            summary_table(runs),
            "",
            "### Every run",
            "",
            "*Transactions on the replica*: of the transactions both servers committed in the "
            "shop's database during the run (`pg_stat_database`), the replica's: its read "
            "share as the servers count it (the pools' own monitoring queries, a few a second "
            "on each server, are in both). *Reads routed*: the app's count, requests by where "
            "their reads went.",
            "",
            runs_table(runs),
            "",
            "**What this can and cannot show.** On 2 cores the replica's queries take CPU from "
            "the same cores the primary, gunicorn and wrk use: moving reads to it cannot make "
            "the shop faster here, and the ratios above are what routing and a second server's "
            "replay and bookkeeping cost on shared cores. With the replica on cores (a machine) "
            "of its own, the primary keeps only the writes, the cart and checkout, and the "
            "catalog's throughput grows with the replicas. What holds on any machine: no "
            "errors, the reads' placement, and each server's connections within its own budget.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.replicas", description=__doc__)
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="short runs, one round, fewer widgets")
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args(argv)
    plan = Plan.default(options.quick)
    widgets = 1_000 if options.quick else options.widgets
    seed = ("--widgets", str(widgets), "--seed", "1")
    runs: list[Run] = []
    load_before = os.getloadavg()[0]
    try:
        with (
            scratch_workdir("widgetworld-replicas-") as workdir,
            replicated_database(
                workdir / "pair",
                seed=seed,
                settings={"max_connections": MAX_CONNECTIONS},
                auth="scram-sha-256",
                password=PASSWORD,
            ) as pair,
            local_cache(workdir / "cache") as cache,
        ):
            # Every gunicorn started below inherits it (devtools.servers.app_environment).
            os.environ["CACHE_URL"] = cache.url
            paths = request_mix(pair.primary, workdir)
            mix = paths.read_text().split()
            paths.write_text("\n".join(mix + ["/cart/"] * (len(mix) // (CART_EVERY - 1))) + "\n")
            with pair.primary.admin_connect() as conn:
                version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            bench = Bench(pair, paths, workdir, plan)
            for number in range(1, plan.rounds + 1):
                for setup in SETUPS:
                    say("replicas", f"{setup}, round {number}")
                    runs.append(bench.run(setup, number))
    except ServerError as error:
        say("replicas", str(error))
        return 1

    sys.stdout.write(f"\n{summary_table(runs)}\n\n{runs_table(runs)}\n\n")
    met = targets(runs)
    for name, ok, measured in met:
        sys.stdout.write(f"{'MET   ' if ok else 'MISSED'} {name}: {measured}\n")
    if not options.no_record:
        command = "python -m loadtests.bench.replicas" + (" --quick" if options.quick else "")
        load_average = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        record("replicas", render(runs, plan, command, machine(version), load_average))
    return 0 if all(ok for _, ok, _ in met) else 1


if __name__ == "__main__":
    sys.exit(main())
