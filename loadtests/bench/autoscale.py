"""Autoscaling rehearsed: app hosts join and leave under load, 2 -> 4 -> 2, as an HPA scales pods.

`python -m loadtests.bench.autoscale` (part of `make bench`).

Each host is a gunicorn master of its own, started with the production
configuration and `WIDGETWORLD_HOST_NAME=host-N`, so its connections show in
`pg_stat_activity` as `widgetworld/host-N/<pid>` and every pool counts the
fleet as the pods of deploy/kubernetes count it. The hosts behave as pods do:

- **join**: the process starts, and gets traffic once its `/readyz` answers
  200 (the readiness probe);
- **leave**: out of the endpoints first, then the preStop pause, then SIGTERM,
  and gunicorn finishes the requests it has within its graceful timeout.

When a host leaves, a few shoppers are in the middle of a slow page on it,
still running at SIGTERM: gunicorn must finish them, not drop them.

The load generator is its own load balancer, as kube-proxy is: each request
goes on a fresh TCP connection to a host picked at random among the ready
ones. Client threads (bounded in time and in requests) ask for product,
listing and search pages. Once a second the rehearsal samples every host's
connections against the budget and counts the answers of that second by
status; a request that got no answer (refused, reset, timed out) is a drop.

Targets: WidgetWorld's connections never exceed the budget; no 5xx but 503
with Retry-After; no request dropped when a host leaves; a new host serves
within the startup probe's minute. Prints the tables and rewrites the
`autoscale` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import http.client
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devtools.console import say
from devtools.databases import scratch_database
from devtools.localdb import PostgresCluster, scratch_workdir
from devtools.servers import Gunicorn, ServerError, http_get
from loadtests.bench.incident import PASSWORD, request_mix
from loadtests.bench.record import machine, record

HEADROOM = 4  # WidgetWorld's default
RESERVED = 3  # PostgreSQL's superuser_reserved_connections
FLEET = "widgetworld"
# Upper bound on requests, whatever the timeline: the run always ends by itself.
MAX_REQUESTS = 100_000
CLIENT_TIMEOUT = 10.0
# How long a host may take to serve: the startup probe's allowance (deployment.yaml).
STARTUP_ALLOWANCE = 60.0
# Shoppers mid-page when their host is told to leave: a page that takes longer
# than the preStop pause (a slow template, no connection held), so it is still
# running at SIGTERM and gunicorn must finish it within its graceful timeout.
SLOW_PAGE = "/_chaos/render?seconds=5"
SLOW_SHOPPERS = 3


@dataclass(frozen=True)
class Timeline:
    """Seconds into the load at which hosts join and leave."""

    up_at: float  # two hosts join
    first_down_at: float  # the fourth leaves
    second_down_at: float  # the third leaves
    end_at: float
    pause: float  # preStop: endpoints catch up before SIGTERM

    @classmethod
    def default(cls, quick: bool) -> Timeline:
        if quick:
            return cls(up_at=4, first_down_at=16, second_down_at=21, end_at=27, pause=1)
        return cls(up_at=15, first_down_at=50, second_down_at=62, end_at=80, pause=2)


@dataclass
class Host:
    name: str
    server: Gunicorn
    started_at: float  # seconds into the load (negative: before it)
    ready_at: float | None = None
    first_answer_at: float | None = None
    left_at: float | None = None  # out of the endpoints
    sigterm_at: float | None = None
    exited_at: float | None = None
    exit_code: int | None = None
    in_flight_at_sigterm: int = 0
    in_flight: int = 0


@dataclass(frozen=True)
class Answer:
    at: float  # seconds into the load, when it finished
    host: str
    status: int | None  # None: no answer (a drop)
    retry_after: bool
    error: str = ""
    leaving: bool = False  # the host had left the endpoints when the request began


@dataclass(frozen=True)
class Sample:
    at: float
    ready: tuple[str, ...]
    ours: dict[str, int]  # connections per host
    monitors: int  # the pools' sampling connections
    clients: int  # every client backend, ours included

    @property
    def total(self) -> int:
        return sum(self.ours.values())


@dataclass
class Outcome:
    max_connections: int
    workers: int
    threads: int
    clients: int
    timeline: Timeline
    hosts: list[Host] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    @property
    def budget(self) -> int:
        return self.max_connections - RESERVED - HEADROOM

    def statuses(self) -> collections.Counter[str]:
        return collections.Counter(_status_key(a) for a in self.answers)

    def dropped_on_leave(self) -> list[Answer]:
        return [a for a in self.answers if a.status is None and a.leaving]

    def server_errors(self) -> int:
        """5xx answers that are not a 503 with Retry-After (shed load, as designed)."""
        return sum(
            1
            for a in self.answers
            if a.status is not None and a.status >= 500 and not (a.status == 503 and a.retry_after)
        )


def _status_key(answer: Answer) -> str:
    if answer.status is None:
        return f"no answer ({answer.error})"
    if answer.status == 503:
        return "503 with Retry-After" if answer.retry_after else "503 without Retry-After"
    return str(answer.status)


class Endpoints:
    """The ready hosts, as a Service's endpoints: who new connections may go to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: list[Host] = []
        self._left: set[str] = set()

    def add(self, host: Host) -> None:
        with self._lock:
            self._ready.append(host)

    def remove(self, host: Host) -> None:
        with self._lock:
            self._ready.remove(host)
            self._left.add(host.name)

    def send(self, host: Host) -> None:
        """A request to `host` that did not go through the balancer (already under way)."""
        with self._lock:
            host.in_flight += 1

    def pick(self, rng: random.Random) -> Host | None:
        with self._lock:
            if not self._ready:
                return None
            host = rng.choice(self._ready)
            host.in_flight += 1
            return host

    def done(self, host: Host) -> bool:
        """The request on `host` is over; True if the host had left meanwhile."""
        with self._lock:
            host.in_flight -= 1
            return host.name in self._left

    def names(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(h.name for h in self._ready))


class Rehearsal:
    def __init__(
        self,
        cluster: PostgresCluster,
        paths: list[str],
        workdir: Path,
        *,
        workers: int,
        threads: int,
        clients: int,
        timeline: Timeline,
    ) -> None:
        self.cluster = cluster
        self.url = cluster.credentials("widgetworld").url
        self.paths = paths
        self.workdir = workdir
        self.endpoints = Endpoints()
        self.outcome = Outcome(
            int(self._setting("max_connections")), workers, threads, clients, timeline
        )
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._answers_lock = threading.Lock()

    def _setting(self, name: str) -> str:
        with self.cluster.admin_connect() as conn:
            return str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]

    def now(self) -> float:
        return time.monotonic() - self._start

    # -- hosts -------------------------------------------------------------------

    def start_host(self, number: int) -> Host:
        name = f"host-{number}"
        server = Gunicorn(
            self.url,
            self.workdir / f"{name}.log",
            WIDGETWORLD_HOST_NAME=name,
            WEB_CONCURRENCY=str(self.outcome.workers),
            WEB_THREADS=str(self.outcome.threads),
            ACCESS_LOG="false",
            LOG_LEVEL="WARNING",
            WIDGETWORLD_CHAOS_ENDPOINTS="true",
        )
        host = Host(name, server, started_at=self.now())
        self.outcome.hosts.append(host)
        threading.Thread(target=self._probe_until_ready, args=(host,), daemon=True).start()
        return host

    def _probe_until_ready(self, host: Host) -> None:
        """The readiness probe: the host gets traffic from its first 200 on."""
        deadline = time.monotonic() + STARTUP_ALLOWANCE * 2
        while time.monotonic() < deadline and not self._stop.is_set():
            if not host.server.alive():
                return
            try:
                if host.server.get("/readyz", timeout=2).status == 200:
                    host.ready_at = self.now()
                    self.endpoints.add(host)
                    return
            except OSError:
                pass
            time.sleep(0.2)

    def leave(self, host: Host) -> None:
        """As Kubernetes takes a pod away: endpoints, preStop pause, SIGTERM, drain.

        A few shoppers are in the middle of a slow page on it when it is told to go.
        """
        slow = [
            threading.Thread(target=self._record, args=(host, SLOW_PAGE), daemon=True)
            for _ in range(SLOW_SHOPPERS)
        ]
        for thread in slow:
            self.endpoints.send(host)
            thread.start()
        self.endpoints.remove(host)
        host.left_at = self.now()
        time.sleep(self.outcome.timeline.pause)
        host.in_flight_at_sigterm = host.in_flight
        host.sigterm_at = self.now()
        host.exit_code = host.server.stop(timeout=40)
        host.exited_at = self.now()
        for thread in slow:
            thread.join(timeout=CLIENT_TIMEOUT)

    def wait_ready(self, hosts: list[Host], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(h.ready_at is None for h in hosts):
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{', '.join(h.name for h in hosts if h.ready_at is None)} not ready "
                    f"within {timeout:g}s"
                )
            time.sleep(0.1)

    # -- load ----------------------------------------------------------------------

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self._stop.is_set() and len(self.outcome.answers) < MAX_REQUESTS:
            host = self.endpoints.pick(rng)
            if host is None:
                time.sleep(0.05)
                continue
            self._record(host, rng.choice(self.paths))

    def _record(self, host: Host, path: str) -> None:
        answer = self._request(host, path)
        with self._answers_lock:
            self.outcome.answers.append(answer)
            if answer.status is not None and answer.status < 500 and host.first_answer_at is None:
                host.first_answer_at = answer.at

    def _request(self, host: Host, path: str) -> Answer:
        connection = http.client.HTTPConnection(
            "127.0.0.1", host.server.port, timeout=CLIENT_TIMEOUT
        )
        status: int | None = None
        retry_after = False
        error = ""
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            status, retry_after = response.status, response.getheader("Retry-After") is not None
        except (OSError, http.client.HTTPException) as failure:
            error = type(failure).__name__
        finally:
            connection.close()
            left = self.endpoints.done(host)
        return Answer(self.now(), host.name, status, retry_after, error, leaving=left)

    def _sample(self) -> None:
        with self.cluster.admin_connect() as conn:
            while not self._stop.wait(1.0):
                rows = conn.execute(
                    "SELECT coalesce(application_name, ''), count(*) FROM pg_stat_activity"
                    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                    " GROUP BY 1"
                ).fetchall()
                ours: collections.Counter[str] = collections.Counter(
                    {h.name: 0 for h in self.outcome.hosts if h.exited_at is None}
                )
                monitors = 0
                for app, count in rows:
                    if app.startswith(f"{FLEET}/"):
                        ours[app.split("/")[1]] += count
                    elif app.startswith(f"{FLEET}-monitor/"):
                        monitors += count
                self.outcome.samples.append(
                    Sample(
                        self.now(),
                        self.endpoints.names(),
                        dict(ours),
                        monitors,
                        sum(count for _, count in rows),
                    )
                )

    # -- the run -------------------------------------------------------------------

    def run(self) -> Outcome:
        timeline = self.outcome.timeline
        first = [self.start_host(1), self.start_host(2)]
        try:
            self.wait_ready(first, STARTUP_ALLOWANCE)
            for host in first:  # warm up: templates, caches, first connections
                for path in self.paths[:20]:
                    http_get(f"{host.server.url}{path}", timeout=30)
            # The clock starts with the load; the first hosts started before it.
            shift = time.monotonic() - self._start
            self._start += shift
            for host in first:
                host.started_at -= shift
                host.ready_at = (host.ready_at or 0.0) - shift
            threads = [
                threading.Thread(target=self._client, args=(n,), daemon=True)
                for n in range(self.outcome.clients)
            ]
            threads.append(threading.Thread(target=self._sample, daemon=True))
            for thread in threads:
                thread.start()
            self._until(timeline.up_at)
            joining = [self.start_host(3), self.start_host(4)]
            self._until(timeline.first_down_at)
            self.wait_ready(joining, STARTUP_ALLOWANCE)
            self.leave(joining[1])
            self._until(timeline.second_down_at)
            self.leave(joining[0])
            self._until(timeline.end_at)
            self._stop.set()
            for thread in threads:
                thread.join(timeout=CLIENT_TIMEOUT + 5)
        finally:
            self._stop.set()
            for host in self.outcome.hosts:
                host.server.stop()
        return self.outcome

    def _until(self, at: float) -> None:
        delay = at - self.now()
        if delay > 0:
            time.sleep(delay)


# -- reporting ---------------------------------------------------------------------------


def timeline_table(outcome: Outcome) -> str:
    hosts = [h.name for h in outcome.hosts]
    answers = sorted(outcome.answers, key=lambda a: a.at)
    finished = [a.at for a in answers]
    head = [
        "t (s)",
        "ready hosts",
        *hosts,
        "WidgetWorld / budget",
        "sampling",
        "all clients / max",
        "answers",
        "503 + Retry-After",
        "other 5xx",
        "dropped",
    ]
    lines = ["| " + " | ".join(head) + " |", "| ---: | --- |" + " ---: |" * (len(head) - 2)]
    since = 0.0
    for sample in outcome.samples:
        # The answers that finished since the previous sample.
        window = answers[
            bisect.bisect_right(finished, since) : bisect.bisect_right(finished, sample.at)
        ]
        counts = collections.Counter(_bucket(a) for a in window)
        since = sample.at
        cells = [
            f"{sample.at:.0f}",
            str(len(sample.ready)),
            *[str(sample.ours[h]) if h in sample.ours else "—" for h in hosts],
            f"{sample.total} / {outcome.budget}",
            str(sample.monitors),
            f"{sample.clients} / {outcome.max_connections}",
            str(counts["ok"]),
            str(counts["shed"]),
            str(counts["5xx"]),
            str(counts["dropped"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _bucket(answer: Answer) -> str:
    if answer.status is None:
        return "dropped"
    if answer.status == 503 and answer.retry_after:
        return "shed"
    return "5xx" if answer.status >= 500 else "ok"


def hosts_table(outcome: Outcome) -> str:
    def at(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    by_host: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for answer in outcome.answers:
        by_host[answer.host][_bucket(answer)] += 1
    lines = [
        "| Host | started (s) | ready after (s) | first answer after (s) | left endpoints (s) "
        "| SIGTERM → exit (s) | in flight at SIGTERM | answers | 503 + Retry-After | dropped |",
        "| --- |" + " ---: |" * 9,
    ]
    for h in outcome.hosts:
        ready = None if h.ready_at is None else h.ready_at - h.started_at
        first = None if h.first_answer_at is None else h.first_answer_at - h.started_at
        drain = None if h.exited_at is None or h.sigterm_at is None else h.exited_at - h.sigterm_at
        counts = by_host[h.name]
        lines.append(
            f"| {h.name} | {at(h.started_at)} | {at(ready)} | {at(first)} | {at(h.left_at)} "
            f"| {at(drain)} | {h.in_flight_at_sigterm if h.sigterm_at is not None else '—'} "
            f"| {counts['ok'] + counts['shed'] + counts['5xx']} | {counts['shed']} "
            f"| {counts['dropped']} |"
        )
    return "\n".join(lines)


def status_table(outcome: Outcome) -> str:
    lines = ["| Answer | Requests |", "| --- | ---: |"]
    lines += [f"| {key} | {n} |" for key, n in sorted(outcome.statuses().items())]
    return "\n".join(lines)


def targets(outcome: Outcome) -> list[tuple[str, bool, str]]:
    peak = max((s.total for s in outcome.samples), default=0)
    over = sum(1 for s in outcome.samples if s.total > outcome.budget)
    joined = [h for h in outcome.hosts if h.started_at > 0]
    slowest = max(
        (h.ready_at - h.started_at for h in joined if h.ready_at is not None), default=None
    )
    drops = outcome.dropped_on_leave()
    others = sum(1 for a in outcome.answers if a.status is None and not a.leaving)
    return [
        (
            "WidgetWorld's connections never exceed the budget",
            over == 0 and bool(outcome.samples),
            f"peak {peak} of {outcome.budget}; {over} of {len(outcome.samples)} samples over",
        ),
        (
            "No 5xx but 503 with Retry-After",
            outcome.server_errors() == 0,
            f"{outcome.server_errors()} other 5xx",
        ),
        (
            "No request dropped when a host leaves",
            not drops,
            f"{len(drops)} dropped on leaving hosts ({others} unanswered elsewhere)",
        ),
        (
            f"A new host serves within {STARTUP_ALLOWANCE:g} s",
            slowest is not None
            and slowest <= STARTUP_ALLOWANCE
            and all(h.ready_at for h in joined),
            "never" if slowest is None else f"slowest ready after {slowest:.1f} s",
        ),
    ]


def render(outcome: Outcome, command: str, measured_on: str) -> str:
    t = outcome.timeline
    requests = len(outcome.answers)
    seconds = t.end_at
    return "\n".join(
        [
            "## Autoscaling rehearsed: hosts join and leave under load",
            "",
            f"Measured with `make bench` (`{command}`) on: {measured_on}, **under contention**: "
            "the machine's 2 cores are shared with other engineers' work, the database, every "
            "host and the load generator. Compare within the run, not with other sections.",
            "",
            f"max_connections={outcome.max_connections}, so the budget WidgetWorld's pools share "
            f"is {outcome.budget} ({outcome.max_connections} - {RESERVED} reserved - {HEADROOM} "
            f"headroom). Each host is a gunicorn master ({outcome.workers} workers x "
            f"{outcome.threads} threads) named `host-N` by `WIDGETWORLD_HOST_NAME`. "
            f"{outcome.clients} client threads, a fresh connection per request to a random ready "
            f"host, for {seconds:g} s; host-3 and host-4 start at {t.up_at:g} s and get traffic "
            f"once `/readyz` answers 200; host-4 leaves at {t.first_down_at:g} s and host-3 at "
            f"{t.second_down_at:g} s: {SLOW_SHOPPERS} shoppers are in the middle of a 5 s page "
            f"on it (`{SLOW_PAGE}`), then it goes out of the endpoints, a {t.pause:g} s preStop "
            f"pause, SIGTERM. {requests} requests ({requests / seconds:.0f}/s).",
            "",
            "### Against the targets",
            "",
            "| Target | Met | Measured |",
            "| --- | --- | --- |",
            *[
                f"| {name} | {'yes' if ok else '**no**'} | {m} |"
                for name, ok, m in targets(outcome)
            ],
            "",
            "### Hosts",
            "",
            hosts_table(outcome),
            "",
            "### Every answer, by status",
            "",
            status_table(outcome),
            "",
            "### Every sample: connections per host against the budget, answers in that second",
            "",
            "*sampling* counts the pools' short-lived sampling connections "
            "(`widgetworld-monitor/...`), which live in the headroom; *all clients* every "
            "client backend, the rehearsal's own sampler excluded.",
            "",
            "<details><summary>The timeline, one row a second</summary>",
            "",
            timeline_table(outcome),
            "",
            "</details>",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.autoscale", description=__doc__
    )
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--max-connections", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY per host")
    parser.add_argument("--threads", type=int, default=8, help="WEB_THREADS per host")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument("--quick", action="store_true", help="a 27 s timeline instead of 80 s")
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args(argv)

    seed = ("--widgets", str(options.widgets), "--seed", "1")
    try:
        with (
            scratch_workdir("widgetworld-autoscale-") as workdir,
            scratch_database(
                workdir / "postgres",
                seed=seed,
                auth="scram-sha-256",
                password=PASSWORD,
                settings={"max_connections": options.max_connections},
            ) as database,
        ):
            cluster = database.cluster
            mix = request_mix(cluster, workdir).read_text().split()
            with cluster.admin_connect() as conn:
                version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            outcome = Rehearsal(
                cluster,
                mix,
                workdir,
                workers=options.workers,
                threads=options.threads,
                clients=options.clients,
                timeline=Timeline.default(options.quick),
            ).run()
    except ServerError as error:
        say("autoscale", str(error))
        return 1

    sys.stdout.write(f"\n{hosts_table(outcome)}\n\n{status_table(outcome)}\n\n")
    sys.stdout.write(f"{timeline_table(outcome)}\n\n")
    met = targets(outcome)
    for name, ok, measured in met:
        sys.stdout.write(f"{'MET   ' if ok else 'MISSED'} {name}: {measured}\n")
    if not options.no_record:
        command = "python -m loadtests.bench.autoscale" + (" --quick" if options.quick else "")
        record("autoscale", render(outcome, command, machine(version)))
    return 0 if all(ok for _, ok, _ in met) else 1


if __name__ == "__main__":
    sys.exit(main())
