"""The alert drill: saturate a small pool under a real Prometheus and watch the page fire.

`make drill` (and the slow test `tests/test_drill.py`) runs, all on loopback
and in a temporary folder removed afterwards:

1. our own PostgreSQL (`devtools.databases.scratch_database`), migrated, and
   our own cache server (`devtools.localcache`);
2. WidgetWorld under gunicorn with `widgetworld/gunicorn.conf.py`, two
   workers whose pools may hold at most `POOL_MAX` connections each;
3. Debian's `prometheus` scraping `/metrics` (its own port) every second with the rules of
   `deploy/prometheus/alerts.yml`, every `for:` shortened to `DRILL_FOR`
   (the drill rules are generated, so they never drift from the real ones);
4. a bounded burst: `CONCURRENCY` clients calling the chaos endpoint
   `POST /_chaos/hold?seconds=N` (each holds a database connection N seconds)
   for `BURST_SECONDS`, then nothing.

It passes when WidgetWorldDBPoolSaturated goes pending within a few seconds
of the burst, fires within its `for` plus two scrape intervals of going
pending, and resolves after the burst. It prints what it saw as a table and
takes about a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devtools import console
from devtools.databases import scratch_database
from devtools.localcache import local_cache
from devtools.localdb import scratch_workdir
from devtools.localdb.cluster import free_port
from devtools.servers import Gunicorn, Process, ServerError, http_get, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
ALERTS = BASE_DIR / "deploy" / "prometheus" / "alerts.yml"
ALERT = "WidgetWorldDBPoolSaturated"

SCRAPE_INTERVAL = 1.0
DRILL_FOR = 10
WORKERS = 2
# More threads than the burst uses, so scrapes are answered while it runs.
THREADS = 16
POOL_MAX = 2
CONCURRENCY = 8
HOLD_SECONDS = 3
BURST_SECONDS = DRILL_FOR + 15
# Pending must start within this of the burst: a sampler tick, a scrape, an evaluation.
DETECT_WITHIN = 1 + 2 * SCRAPE_INTERVAL + 2
RESOLVE_WITHIN = HOLD_SECONDS + 15
# The data layer's knobs and the chaos endpoints' switch (issue 4).
APP_ENV = {
    "WIDGETWORLD_DB_POOL_MIN": "1",
    "WIDGETWORLD_DB_POOL_MAX": str(POOL_MAX),
    "WIDGETWORLD_CHAOS_ENDPOINTS": "true",
}


class DrillError(ServerError):
    """The drill could not run or the alert did not behave: one line for the terminal."""


class DrillUnavailableError(DrillError):
    """Something the drill needs is missing (a program, the data layer's pool)."""


def drill_rules(alerts: Path, destination: Path, for_seconds: int) -> Path:
    """The real rules with every `for:` shortened, so the drill fits in about a minute."""
    rules = yaml.safe_load(alerts.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = f"{for_seconds}s"
    destination.write_text(yaml.safe_dump(rules, sort_keys=False))
    return destination


class Prometheus(Process):
    """Debian's Prometheus server, own folder, loopback only, scraping one target."""

    def __init__(self, target: str, rules: Path, workdir: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise DrillUnavailableError("prometheus is not installed (Debian package: prometheus)")
        self.port = free_port()
        config = {
            "global": {
                "scrape_interval": f"{SCRAPE_INTERVAL:g}s",
                "scrape_timeout": f"{SCRAPE_INTERVAL:g}s",
                "evaluation_interval": f"{SCRAPE_INTERVAL:g}s",
            },
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "widgetworld", "static_configs": [{"targets": [target]}]}
            ],
        }
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        args = [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__(args, dict(os.environ), workdir / "prometheus.log", workdir)

    def api(self, path: str) -> Any:
        answer = http_get(f"http://127.0.0.1:{self.port}/api/v1/{path}")
        if answer.status != 200:
            raise OSError(f"prometheus API {path}: {answer.status}")
        return json.loads(answer.body)["data"]

    def alert_state(self, name: str) -> str:
        """inactive, pending or firing."""
        states = [
            a["state"] for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name
        ]
        return "firing" if "firing" in states else (states[0] if states else "inactive")

    def firing(self) -> set[str]:
        return {
            a["labels"]["alertname"] for a in self.api("alerts")["alerts"] if a["state"] == "firing"
        }

    def target_up(self) -> bool:
        targets = self.api("targets")["activeTargets"]
        return bool(targets) and all(t["health"] == "up" for t in targets)


@dataclass
class Burst:
    """`concurrency` clients holding connections until `stop_at`, then done."""

    url: str
    concurrency: int
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    stop_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> threading.Thread:
        """Start the clients; the burst ends at `self.stop_at` (monotonic)."""
        self.stop_at = time.monotonic() + self.seconds

        def client() -> None:
            while time.monotonic() < self.stop_at:
                try:
                    status = http_get(self.url, timeout=HOLD_SECONDS + 10, method="POST").status
                except OSError:
                    status = 0
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()

        def join() -> None:
            for thread in threads:
                thread.join()

        joiner = threading.Thread(target=join, daemon=True)
        joiner.start()
        return joiner


@dataclass
class DrillResult:
    for_seconds: int
    pending_after: float  # burst start -> pending
    firing_after: float  # burst start -> firing
    resolved_after: float  # burst end (no new request) -> inactive
    statuses: dict[int, int]
    also_fired: set[str]

    @property
    def pending_to_firing(self) -> float:
        return self.firing_after - self.pending_after

    def table(self) -> str:
        fire_bound = self.for_seconds + 2 * SCRAPE_INTERVAL
        rows = [
            ("alert", ALERT),
            ("for (drill)", f"{self.for_seconds} s"),
            ("burst -> pending", f"{self.pending_after:.1f} s (bound {DETECT_WITHIN:g} s)"),
            (
                "pending -> firing",
                f"{self.pending_to_firing:.1f} s (bound {fire_bound:g} s)",
            ),
            ("burst end -> resolved", f"{self.resolved_after:.1f} s (bound {RESOLVE_WITHIN:g} s)"),
            ("burst responses", ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))),
            ("other alerts fired", ", ".join(sorted(self.also_fired)) or "none"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


@contextlib.contextmanager
def stack(workdir: Path) -> Iterator[tuple[Gunicorn, Prometheus]]:
    """PostgreSQL, a cache, WidgetWorld and Prometheus, stopped in reverse order, always."""
    started: list[Process] = []
    with (
        scratch_database(workdir / "postgres", settings={"fsync": "off"}) as database,
        local_cache(workdir / "cache") as cache,
    ):
        try:
            app = Gunicorn(
                database.url,
                workdir / "gunicorn.log",
                WEB_CONCURRENCY=str(WORKERS),
                WEB_THREADS=str(THREADS),
                ACCESS_LOG="false",
                CACHE_URL=cache.url,
                **APP_ENV,
            )
            started.append(app)
            app.wait_until_serving()
            rules = drill_rules(ALERTS, workdir / "drill-alerts.yml", DRILL_FOR)
            prometheus = Prometheus(f"127.0.0.1:{app.metrics_port}", rules, workdir)
            started.append(prometheus)
            wait_for("Prometheus to scrape WidgetWorld", prometheus.target_up, 30)
            yield app, prometheus
        finally:
            for process in reversed(started):
                process.stop()


def run(workdir: Path) -> DrillResult:
    with stack(workdir) as (app, prometheus):
        if prometheus.alert_state(ALERT) != "inactive":
            raise DrillError(f"{ALERT} is {prometheus.alert_state(ALERT)} before the burst")
        burst = Burst(f"{app.url}/_chaos/hold?seconds={HOLD_SECONDS}", CONCURRENCY, BURST_SECONDS)
        start = time.monotonic()
        done = burst.run()
        wait_for("pending", lambda: prometheus.alert_state(ALERT) != "inactive", BURST_SECONDS)
        pending_after = time.monotonic() - start
        wait_for("firing", lambda: prometheus.alert_state(ALERT) == "firing", BURST_SECONDS)
        firing_after = time.monotonic() - start
        also_fired = prometheus.firing() - {ALERT}
        time.sleep(max(0.0, burst.stop_at - time.monotonic()))
        wait_for("resolved", lambda: prometheus.alert_state(ALERT) == "inactive", RESOLVE_WITHIN)
        resolved_after = time.monotonic() - burst.stop_at
        done.join(timeout=HOLD_SECONDS + 30)
        return DrillResult(
            for_seconds=DRILL_FOR,
            pending_after=pending_after,
            firing_after=firing_after,
            resolved_after=resolved_after,
            statuses=dict(burst.statuses),
            also_fired=also_fired,
        )


def verdict(result: DrillResult) -> list[str]:
    """What went wrong, if anything: the drill's bounds, one line each."""
    problems = []
    if result.pending_after > DETECT_WITHIN:
        problems.append(
            f"pending {result.pending_after:.1f}s after the burst (> {DETECT_WITHIN:g}s)"
        )
    bound = result.for_seconds + 2 * SCRAPE_INTERVAL
    if result.pending_to_firing > bound:
        problems.append(f"firing {result.pending_to_firing:.1f}s after pending (> {bound:g}s)")
    return problems


def main() -> int:
    try:
        with scratch_workdir("widgetworld-drill-") as workdir:
            result = run(workdir)
    except ServerError as error:
        console.say("drill", str(error))
        return 2 if isinstance(error, DrillUnavailableError) else 1
    sys.stdout.write(result.table() + "\n")
    problems = verdict(result)
    for problem in problems:
        console.say("drill", f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
