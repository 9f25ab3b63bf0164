"""The alert drill: a surge pages, shoppers are told, and everything resolves by itself.

`make drill` (and the slow test `tests/test_drill.py`) runs, all on loopback
and in a temporary folder removed afterwards:

1. our own PostgreSQL (`devtools.databases.scratch_database`), migrated, and
   our own cache server (`devtools.localcache`), which holds the status state
   every worker shares;
2. WidgetWorld under gunicorn with `widgetworld/gunicorn.conf.py`, two
   workers whose pools may hold at most `POOL_MAX` connections each, their
   status monitors publishing every second;
3. Debian's `prometheus-alertmanager` with `deploy/prometheus/alertmanager.yml`,
   its status-page webhook aimed at that WidgetWorld with a token of this run
   and its grouping waits shortened to a second or two;
4. Debian's `prometheus` scraping `/metrics` (its own port) every second with the rules of
   `deploy/prometheus/alerts.yml`, every `for:` and `keep_firing_for:`
   shortened to `DRILL_FOR` (the drill rules are generated, so they never
   drift from the real ones), sending its alerts to that Alertmanager;
5. a bounded surge: `CONCURRENCY` clients calling the chaos endpoint
   `POST /_chaos/hold?seconds=N` (each holds a database connection N seconds)
   until every sign of the surge below has been seen (at most
   `BURST_SECONDS`), then nothing;
6. headless Chromium (Debian's, through Playwright) reloading `/` until the
   status banner shows, and again until it has gone; screenshots of both in
   `test-artifacts/drill/`.

It passes when the saturation warning goes pending and fires within its
bounds, the critical timeouts alert fires and reaches on-call's critical
receiver (a recorder of the drill's) through Alertmanager's real routing,
every 503 of the surge carries `Retry-After` and no other error occurs (the
surge really overloads the pool: some 503s; and the pool still serves its
share: at least half the requests its connections could hold in the surge),
the webhook puts the Storefront in a degraded state and the banner shows in
the browser, and after the surge every alert, the component and the banner
clear with nobody touching anything. It prints what it saw as a table,
surge-to-banner time included, and takes about two minutes.

`--production` is the other pass: the real rules and Alertmanager routing,
unshortened, scraped and evaluated every 15 s, with the surge sustained until
the critical saturation page (WidgetWorldDBPoolExhausted) reaches on-call's
receiver (a recorder of ours). `--record` writes its timings into
docs/benchmarks.md (`make bench` does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from devtools import console
from devtools.alertmanager import Alertmanager, local_config
from devtools.databases import scratch_database
from devtools.localcache import local_cache
from devtools.localdb import scratch_workdir
from devtools.servers import Gunicorn, Process, ServerError, http_get, manage, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
ALERTS = BASE_DIR / "deploy" / "prometheus" / "alerts.yml"
ARTIFACTS = BASE_DIR / "test-artifacts" / "drill"
ALERT = "WidgetWorldDBPoolSaturated"  # the warning, held to its bounds
CRITICAL = "WidgetWorldDBPoolTimeouts"  # the critical alert, driven end to end
PAGE = "WidgetWorldDBPoolExhausted"  # the critical saturation page (--production)

SCRAPE_INTERVAL = 1.0
DRILL_FOR = 10
DRILL_WINDOW = 20
RANGE = re.compile(r"\[(?:\d+(?:ms|[smhdwy]))+\]")
# Two: the webhook reaches one, the banner is read from either, through the cache.
WORKERS = 2
# More threads than the burst uses, so scrapes are answered while it runs.
THREADS = 16
POOL_MAX = 2
CONCURRENCY = 8
HOLD_SECONDS = 3
# The most a surge lasts: it ends once every sign of it has been seen.
BURST_SECONDS = DRILL_FOR + 25
# Pending must start within this of the burst: a sampler tick, a scrape, an evaluation.
DETECT_WITHIN = 1 + 2 * SCRAPE_INTERVAL + 2
# Surge to banner: the first 503 (the pool's 2.5 s timeout), a scrape, an
# evaluation, Alertmanager's 1 s group_wait, a worker's 1 s status copy, a
# reload; with room for a loaded machine.
BANNER_WITHIN = 20.0
# The timeouts and 5xx alerts look back DRILL_WINDOW, then `keep_firing_for`,
# then Alertmanager's 2 s group_interval, the status page's 10 s recovery, a
# worker's status copy, a reload.
RESOLVE_WITHIN = DRILL_WINDOW + DRILL_FOR + 40.0
# The surge must really overload the pool (some 503s), and the pool must keep
# serving its share (not everyone turned away): 4 connections, 8 clients. The
# share is of what the connections could hold, not of all answers: the pool's
# 503s come fast, so the clients turned away ask again and again, and their
# count says how fast a 503 is, not how much was served.
MIN_503_SHARE = 0.05
MIN_SERVED_SHARE = 0.5

# --production: the real rules and routing, scraped and evaluated every 15 s.
PRODUCTION_INTERVAL = 15.0
PAGE_WITHIN = 60.0
PRODUCTION_BURST_SECONDS = 150.0

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and no sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The data layer's knobs, the chaos endpoints' switch, and the status monitor
# publishing every second so the banner follows within seconds.
APP_ENV = {
    "WIDGETWORLD_DB_POOL_MIN": "1",
    "WIDGETWORLD_DB_POOL_MAX": str(POOL_MAX),
    "WIDGETWORLD_CHAOS_ENDPOINTS": "true",
    "STATUS_MONITOR_INTERVAL": "1",
    "STATUS_LOCAL_TTL": "1",
    # The status page's hysteresis on the drill's compressed clock.
    "STATUS_DEGRADE_AFTER": "5",
    "STATUS_RECOVER_AFTER": "10",
    "STATUS_SIGNAL_WINDOW": "20",
    # Production's 5 ms cache timeouts are for a server next to the app; on a
    # shared 2-core machine a healthy one misses them (as in the tests).
    "CACHE_CONNECT_TIMEOUT_MS": "250",
    "CACHE_TIMEOUT_MS": "250",
}


class DrillError(ServerError):
    """The drill could not run or the alert did not behave: one line for the terminal."""


class DrillUnavailableError(DrillError):
    """Something the drill needs is missing (a program, the data layer's pool)."""


def drill_rules(alerts: Path, destination: Path, for_seconds: int) -> Path:
    """The real rules on a compressed clock, so the drill fits in about two minutes.

    Every `for:` and `keep_firing_for:` becomes `for_seconds`, and every range
    a rate or an increase looks back over (`[1m]`, `[5m]`...) becomes
    `DRILL_WINDOW`: with one-second scrapes that is still dozens of samples,
    and the alerts clear seconds, not minutes, after the surge.
    """
    rules = yaml.safe_load(alerts.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = f"{for_seconds}s"
            rule["expr"] = RANGE.sub(f"[{DRILL_WINDOW}s]", rule["expr"])
    destination.write_text(yaml.safe_dump(rules, sort_keys=False))
    return destination


class Prometheus(Process):
    """Debian's Prometheus server, own folder, loopback only, one target, one Alertmanager."""

    def __init__(
        self, target: str, rules: Path, workdir: Path, *, interval: float, alertmanager: str
    ) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise DrillUnavailableError("prometheus is not installed (Debian package: prometheus)")
        config = {
            "global": {
                "scrape_interval": f"{interval:g}s",
                "scrape_timeout": f"{min(interval, 10):g}s",
                "evaluation_interval": f"{interval:g}s",
            },
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
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
            "--web.listen-address=127.0.0.1:0",  # the kernel picks; `port` reads it back
        ]
        super().__init__(args, dict(os.environ), workdir / "prometheus.log", workdir)
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = self.wait_until_listening()
        return self._port

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

    def active(self) -> set[str]:
        """Alerts pending or firing."""
        return {a["labels"]["alertname"] for a in self.api("alerts")["alerts"]}

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
    # 503s without a Retry-After: a client could not know when to come back.
    without_retry_after: int = 0
    stop_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> threading.Thread:
        """Start the clients; the burst ends at `self.stop_at` (monotonic), or at `stop()`."""
        self.stop_at = time.monotonic() + self.seconds

        def client() -> None:
            while time.monotonic() < self.stop_at:
                try:
                    answer = http_get(self.url, timeout=HOLD_SECONDS + 10, method="POST")
                    status, bare = answer.status, answer.status == 503 and not answer.retry_after
                except OSError:
                    status, bare = 0, False
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    self.without_retry_after += bare

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()

        def join() -> None:
            for thread in threads:
                thread.join()

        joiner = threading.Thread(target=join, daemon=True)
        joiner.start()
        return joiner

    def stop(self) -> None:
        self.stop_at = min(self.stop_at, time.monotonic())

    @property
    def share_503(self) -> float:
        total = sum(self.statuses.values())
        return self.statuses.get(503, 0) / total if total else 0.0


class Browser:
    """Headless Chromium, driven by Playwright, looking at the shop as a shopper does."""

    def __init__(self, artifacts: Path) -> None:
        if not CHROMIUM.exists():
            raise DrillUnavailableError(f"{CHROMIUM} is missing (Debian package: chromium)")
        self.artifacts = artifacts

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        shutil.rmtree(self.artifacts, ignore_errors=True)
        self.artifacts.mkdir(parents=True)
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        self.page = self._browser.new_page(viewport={"width": 390, "height": 844})
        return self

    def __exit__(self, *exc: object) -> None:
        self._browser.close()
        self._playwright.stop()

    def banner_on(self, url: str) -> bool:
        """Load `url` and say whether the status banner is there (False if the page failed)."""
        from playwright.sync_api import Error

        try:
            self.page.goto(url, wait_until="domcontentloaded", timeout=15_000)
            return self.page.locator(".status-banner").is_visible()
        except Error:
            return False

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def watch(checks: dict[str, Callable[[], bool]], timeout: float, since: float) -> dict[str, float]:
    """Poll every check until all have been true once or `timeout`: seconds from `since` to each.

    Polled together, so each time is when that event happened, whatever the
    order they happen in; a check that failed to answer counts as not yet.
    """
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(checks) and time.monotonic() < deadline:
        for name, check in checks.items():
            if name in seen:
                continue
            with contextlib.suppress(OSError, ValueError, KeyError):
                if check():
                    seen[name] = time.monotonic() - since
        time.sleep(0.2)
    return seen


@dataclass
class Stack:
    app: Gunicorn
    prometheus: Prometheus
    alertmanager: Alertmanager

    def status(self) -> dict[str, Any]:
        summary: dict[str, Any] = json.loads(self.app.get("/status/summary.json").body)
        return summary

    def storefront(self) -> str:
        return next(c["status"] for c in self.status()["components"] if c["id"] == "storefront")

    def all_clear(self) -> bool:
        summary = self.status()
        operational = all(c["status"] == "operational" for c in summary["components"])
        return operational and not summary["incidents"]


@contextlib.contextmanager
def stack(workdir: Path, *, production: bool = False, pager: str | None = None) -> Iterator[Stack]:
    """PostgreSQL, a cache, WidgetWorld, Alertmanager and Prometheus, stopped in reverse order.

    `production` keeps the real rules and routing and 15 s intervals; `pager`
    is a URL on-call's critical receiver posts to (a recorder of ours).
    """
    started: list[Process] = []
    token = secrets.token_urlsafe(24)
    token_file = workdir / "status-webhook-token"
    token_file.write_text(token)
    interval = PRODUCTION_INTERVAL if production else SCRAPE_INTERVAL
    with (
        scratch_database(workdir / "postgres", settings={"fsync": "off"}) as database,
        local_cache(workdir / "cache") as cache,
    ):
        try:
            # Collected, so the screenshots show the shop as shoppers see it.
            static = str(workdir / "static")
            manage(database.url, "collectstatic", "--noinput", STATIC_ROOT=static)
            app = Gunicorn(
                database.url,
                workdir / "gunicorn.log",
                STATIC_ROOT=static,
                WEB_CONCURRENCY=str(WORKERS),
                WEB_THREADS=str(THREADS),
                ACCESS_LOG="false",
                CACHE_URL=cache.url,
                STATUS_WEBHOOK_TOKEN=token,
                **APP_ENV,
            )
            started.append(app)
            app.wait_until_serving()
            config = local_config(f"{app.url}/status/alertmanager", token_file, fast=not production)
            if pager is not None:
                for receiver in config["receivers"]:
                    if receiver["name"] == "oncall-critical":
                        receiver["webhook_configs"] = [{"url": pager, "send_resolved": False}]
            alertmanager = Alertmanager(config, workdir / "alertmanager")
            started.append(alertmanager)
            alertmanager.wait_until_ready()
            rules = (
                ALERTS
                if production
                else drill_rules(ALERTS, workdir / "drill-alerts.yml", DRILL_FOR)
            )
            prometheus = Prometheus(
                f"127.0.0.1:{app.metrics_port}",
                rules,
                workdir,
                interval=interval,
                alertmanager=f"127.0.0.1:{alertmanager.port}",
            )
            started.append(prometheus)
            wait_for("Prometheus to scrape WidgetWorld", prometheus.target_up, 30 + 2 * interval)
            yield Stack(app, prometheus, alertmanager)
        finally:
            for process in reversed(started):
                process.stop()


@dataclass
class DrillResult:
    for_seconds: int
    surge: dict[str, float]  # event -> seconds after the surge started
    after: dict[str, float]  # event -> seconds after the surge ended
    statuses: dict[int, int]
    without_retry_after: int
    share_503: float
    capacity: float  # requests the pool's connections could have held during the surge
    also_fired: set[str]
    screenshots: list[Path]

    def _at(self, times: dict[str, float], event: str, bound: float | None = None) -> str:
        value = f"{times[event]:.1f} s" if event in times else "never"
        return f"{value} (bound {bound:g} s)" if bound is not None else value

    def table(self) -> str:
        pending, firing = self.surge.get("pending"), self.surge.get("firing")
        to_firing = (
            f"{firing - pending:.1f} s" if pending is not None and firing is not None else "never"
        )
        rows = [
            ("alerts", f"{ALERT} (warning), {CRITICAL} (critical)"),
            ("for (drill)", f"{self.for_seconds} s"),
            ("surge -> warning pending", self._at(self.surge, "pending", DETECT_WITHIN)),
            (
                "pending -> firing",
                f"{to_firing} (bound {self.for_seconds + 2 * SCRAPE_INTERVAL:g} s)",
            ),
            ("surge -> critical firing", self._at(self.surge, "critical")),
            ("surge -> critical paged on-call", self._at(self.surge, "paged")),
            ("surge -> Storefront degraded", self._at(self.surge, "degraded")),
            ("surge -> banner in Chromium", self._at(self.surge, "banner", BANNER_WITHIN)),
            ("surge end -> alerts resolved", self._at(self.after, "resolved", RESOLVE_WITHIN)),
            ("surge end -> status all clear", self._at(self.after, "cleared", RESOLVE_WITHIN)),
            ("surge end -> banner gone", self._at(self.after, "gone", RESOLVE_WITHIN)),
            ("surge responses", ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))),
            (
                "503 share",
                f"{self.share_503:.0%} (at least {MIN_503_SHARE:.0%}), "
                f"{self.without_retry_after} without Retry-After",
            ),
            (
                "served",
                f"{self.statuses.get(200, 0)} of the {self.capacity:.0f} the pool could hold "
                f"(at least {MIN_SERVED_SHARE:.0%})",
            ),
            ("other alerts fired", ", ".join(sorted(self.also_fired)) or "none"),
            ("screenshots", ", ".join(str(p.relative_to(BASE_DIR)) for p in self.screenshots)),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def run(workdir: Path) -> DrillResult:
    with (
        Recorder() as pager,
        stack(workdir, pager=pager.url) as drilled,
        Browser(ARTIFACTS) as browser,
    ):
        home = drilled.app.url + "/"
        if drilled.prometheus.active():
            raise DrillError(
                f"alerts before the surge: {', '.join(sorted(drilled.prometheus.active()))}"
            )
        if browser.banner_on(home):
            raise DrillError("the status banner shows before the surge")
        burst = Burst(
            f"{drilled.app.url}/_chaos/hold?seconds={HOLD_SECONDS}", CONCURRENCY, BURST_SECONDS
        )
        screenshots: list[Path] = []

        def banner() -> bool:
            if browser.banner_on(home):
                screenshots.append(browser.screenshot("01-banner-during-the-surge"))
                browser.page.goto(drilled.app.url + "/status/", wait_until="domcontentloaded")
                screenshots.append(browser.screenshot("02-status-page-during-the-surge"))
                return True
            return False

        start = time.monotonic()
        done = burst.run()
        surge = watch(
            {
                "pending": lambda: drilled.prometheus.alert_state(ALERT) != "inactive",
                "firing": lambda: drilled.prometheus.alert_state(ALERT) == "firing",
                "critical": lambda: drilled.prometheus.alert_state(CRITICAL) == "firing",
                "paged": lambda: CRITICAL in pager.first,
                "degraded": lambda: drilled.storefront() != "operational",
                "banner": banner,
            },
            timeout=BURST_SECONDS,
            since=start,
        )
        also_fired = drilled.prometheus.firing() - {ALERT, CRITICAL}
        # Sustained until every sign of it was seen, no longer: what follows
        # (everything clearing by itself) is timed from here.
        burst.stop()
        done.join(timeout=HOLD_SECONDS + 30)

        def gone() -> bool:
            if not browser.banner_on(home):
                screenshots.append(browser.screenshot("03-after-the-surge"))
                return True
            return False

        after = watch(
            {
                "resolved": lambda: not drilled.prometheus.active(),
                "cleared": drilled.all_clear,
                "gone": gone,
            },
            timeout=RESOLVE_WITHIN,
            since=burst.stop_at,
        )
        return DrillResult(
            for_seconds=DRILL_FOR,
            surge=surge,
            after=after,
            statuses=dict(burst.statuses),
            without_retry_after=burst.without_retry_after,
            share_503=burst.share_503,
            capacity=WORKERS * POOL_MAX * (burst.stop_at - start) / HOLD_SECONDS,
            also_fired=also_fired,
            screenshots=screenshots,
        )


def verdict(result: DrillResult) -> list[str]:
    """What went wrong, if anything: the drill's bounds, one line each."""
    problems = []
    surge, after = result.surge, result.after
    for event, what in (
        ("pending", f"{ALERT} pending"),
        ("firing", f"{ALERT} firing"),
        ("critical", f"{CRITICAL} firing"),
        ("paged", f"{CRITICAL} reach on-call's critical receiver"),
        ("degraded", "Storefront degraded"),
        ("banner", "the banner in Chromium"),
    ):
        if event not in surge:
            problems.append(f"never saw {what} during the surge")
    if surge.get("pending", 0) > DETECT_WITHIN:
        problems.append(f"pending {surge['pending']:.1f}s after the surge (> {DETECT_WITHIN:g}s)")
    bound = result.for_seconds + 2 * SCRAPE_INTERVAL
    if "pending" in surge and "firing" in surge and surge["firing"] - surge["pending"] > bound:
        problems.append(
            f"firing {surge['firing'] - surge['pending']:.1f}s after pending (> {bound:g}s)"
        )
    if surge.get("banner", 0) > BANNER_WITHIN:
        problems.append(f"banner {surge['banner']:.1f}s after the surge (> {BANNER_WITHIN:g}s)")
    for event, what in (
        ("resolved", "the alerts resolve"),
        ("cleared", "the status page clear"),
        ("gone", "the banner go"),
    ):
        if event not in after:
            problems.append(f"did not see {what} within {RESOLVE_WITHIN:g}s of the surge's end")
    other = {status: n for status, n in result.statuses.items() if status not in (200, 503)}
    if other:
        problems.append(f"answers other than 200 and 503 during the surge: {other}")
    if result.without_retry_after:
        problems.append(f"{result.without_retry_after} 503s without Retry-After")
    if result.share_503 < MIN_503_SHARE:
        problems.append(
            f"503 share {result.share_503:.0%} under {MIN_503_SHARE:.0%}: "
            "the surge did not overload the pool"
        )
    served = result.statuses.get(200, 0)
    if served < MIN_SERVED_SHARE * result.capacity:
        problems.append(
            f"served {served} of the {result.capacity:.0f} requests the pool could hold "
            f"(under {MIN_SERVED_SHARE:.0%})"
        )
    return problems


class Recorder:
    """On-call's critical receiver, ours: when each alert's first notification arrived."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        first = self.first

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                arrived = time.monotonic()
                with contextlib.suppress(ValueError):
                    for alert in json.loads(self.rfile.read(length)).get("alerts", []):
                        if alert.get("status") == "firing":
                            first.setdefault(alert["labels"].get("alertname", "?"), arrived)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the drill prints its own table."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> Recorder:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class ProductionResult:
    firing_after: float | None  # surge -> PAGE firing in Prometheus
    paged_after: float | None  # surge -> PAGE notification at on-call's receiver
    critical_paged_after: float | None  # surge -> CRITICAL notification there
    statuses: dict[int, int]

    def rows(self) -> list[tuple[str, str]]:
        def seconds(value: float | None) -> str:
            return f"{value:.1f}" if value is not None else "never"

        return [
            (f"{PAGE} firing in Prometheus", seconds(self.firing_after)),
            (
                f"{PAGE} paged (on-call's critical receiver)",
                f"{seconds(self.paged_after)} (target: within {PAGE_WITHIN:g})",
            ),
            (f"{CRITICAL} paged", seconds(self.critical_paged_after)),
            ("surge responses", ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))),
        ]

    def table(self) -> str:
        width = max(len(name) for name, _ in self.rows())
        return "\n".join(f"{name:<{width}}  {value}" for name, value in self.rows())


def run_production(workdir: Path) -> ProductionResult:
    """Production's rules and routing, unshortened: how long from a sustained surge to the page."""
    with Recorder() as pager, stack(workdir, production=True, pager=pager.url) as drilled:
        burst = Burst(
            f"{drilled.app.url}/_chaos/hold?seconds={HOLD_SECONDS}",
            CONCURRENCY,
            PRODUCTION_BURST_SECONDS,
        )
        start = time.monotonic()
        done = burst.run()
        seen = watch(
            {
                "firing": lambda: drilled.prometheus.alert_state(PAGE) == "firing",
                "paged": lambda: PAGE in pager.first,
            },
            timeout=PRODUCTION_BURST_SECONDS,
            since=start,
        )
        burst.stop()
        done.join(timeout=HOLD_SECONDS + 30)
        return ProductionResult(
            firing_after=seen.get("firing"),
            paged_after=pager.first[PAGE] - start if PAGE in pager.first else None,
            critical_paged_after=pager.first[CRITICAL] - start if CRITICAL in pager.first else None,
            statuses=dict(burst.statuses),
        )


def record_production(result: ProductionResult) -> None:
    from loadtests.bench.record import record

    lines = [
        "## Alert drill, production timings: from a sustained surge to the page",
        "",
        "`python -m devtools.drill --production --record` (part of `make bench`), "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores. One pass: the real "
        "`deploy/prometheus/alerts.yml` and `alertmanager.yml`, scraped and evaluated every "
        f"15 s; a surge of {CONCURRENCY} clients holding connections from {WORKERS} x "
        f"{POOL_MAX} pooled connections, sustained until the page; on-call's critical "
        "receiver is a recorder of the drill.",
        "",
        "| Event | Seconds after the surge began |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in result.rows()),
        "",
        "The worst case by construction is 50 s (15 s to be scraped, 15 s to the next "
        "evaluation, `for: 15s`, Alertmanager's 5 s `group_wait`); promtool pins the rule's "
        "part in `deploy/prometheus/tests/alerts.test.yml`. Before it, saturation paged "
        "nobody (its alerts were warnings with a 2-minute `for:`): about 2.5 minutes to a "
        "warning with a usual 30 s `group_wait`, and a page only once requests timed out.",
    ]
    record("drill-production", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.drill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="the production timings pass: surge to page, real rules and routing",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="with --production: write the timings into docs/benchmarks.md",
    )
    options = parser.parse_args(argv)
    try:
        with scratch_workdir("widgetworld-drill-") as workdir:
            if options.production:
                production = run_production(workdir)
            else:
                result = run(workdir)
    except ServerError as error:
        console.say("drill", str(error))
        return 2 if isinstance(error, DrillUnavailableError) else 1
    if options.production:
        sys.stdout.write(production.table() + "\n")
        if options.record:
            record_production(production)
        if production.paged_after is None or production.paged_after > PAGE_WITHIN:
            console.say("drill", f"FAILED: {PAGE} did not page within {PAGE_WITHIN:g}s")
            return 1
        return 0
    sys.stdout.write(result.table() + "\n")
    problems = verdict(result)
    for problem in problems:
        console.say("drill", f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
