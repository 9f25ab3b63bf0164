"""Will the planned fleet fit the database? Checked before anything is applied.

    python -m devtools.capacity [PATH ...] --max-connections 200
    python -m devtools.capacity [PATH ...] --database-url postgres://...   (or DATABASE_URL)
    make capacity [MAX_CONNECTIONS=200]

Reads the web Deployment, its autoscaler and ConfigMap (and PgBouncer's, when
given) from PATHs (default: deploy/kubernetes, its migrate/ and pgbouncer/),
and `max_connections` from the command line or from the server itself. Prints
the plan: each pod's pool ceiling at the minimum and maximum replica counts,
steady and during a rollout, the headroom, and what a PgBouncer would need.

Exits 1 with one line naming the file and the field when the minimum pools of
the worst moment (maxReplicas, plus a rollout's surge pods, plus the pods it
is still terminating) cannot fit the budget; exits 2 on input that makes no
sense. The formula is the pool's own (core/db/backends/postgresql/budget.py),
and docs/scaling.md explains the plan line by line.

A script rather than a management command: it reads YAML (a dev-only package)
on an operator's workstation or in CI, and has no business in the production
image, which carries neither the manifests nor PyYAML.
"""

from __future__ import annotations

import argparse
import configparser
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.core.exceptions import ImproperlyConfigured

from core.db.backends.postgresql.base import DEFAULT_FLEET
from core.db.backends.postgresql.budget import ServerSampler, application_name, compute_share
from core.db.backends.postgresql.options import PoolOptions
from core.db.backends.postgresql.stats import ServerStats
from devtools.manifests import (
    KUBERNETES_DIR,
    Manifest,
    ManifestError,
    Manifests,
    containers,
    display,
    pod_spec,
    problems,
    scaled,
)

DEFAULT_PATHS = (KUBERNETES_DIR, KUBERNETES_DIR / "migrate", KUBERNETES_DIR / "pgbouncer")
# PostgreSQL's default superuser_reserved_connections.
DEFAULT_RESERVED = 3
# The environment variables a pod's pool reads, and PoolOptions' names for them.
POOL_VARIABLES = {
    "min_size": "WIDGETWORLD_DB_POOL_MIN",
    "max_size": "WIDGETWORLD_DB_POOL_MAX",
    "headroom": "WIDGETWORLD_DB_POOL_HEADROOM",
}


class Nonsense(Exception):
    """Input no plan can be made from: exit 2."""


class DoesNotFit(Exception):
    """A plan that would exhaust the database: exit 1."""


# -- the server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections)
    others: int  # client connections that are not WidgetWorld's
    source: str

    @classmethod
    def given(cls, max_connections: int, reserved: int, others: int) -> Server:
        if max_connections <= 0:
            raise Nonsense(f"--max-connections must be a positive number, not {max_connections}")
        if reserved < 0 or others < 0:
            raise Nonsense("--reserved and --other-clients must not be negative")
        if reserved >= max_connections:
            raise Nonsense(
                f"--reserved {reserved} leaves no connection of --max-connections {max_connections}"
            )
        return cls(max_connections, reserved, others, "the command line")

    @classmethod
    def sampled(cls, url: str) -> Server:
        """The server's own numbers, read as the pools read them."""
        sampler = ServerSampler({"conninfo": url}, application_name(f"{DEFAULT_FLEET}-capacity"))
        try:
            stats = sampler.sample()
        except psycopg.Error as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise Nonsense(f"cannot read max_connections from the database: {first}") from None
        members, monitors = f"{DEFAULT_FLEET}/", f"{DEFAULT_FLEET}-"
        others = sum(
            count
            for (app, _state), count in stats.connections.items()
            if not app.startswith((members, monitors))
        )
        return cls(stats.max_connections, stats.reserved, others, "the database")


# -- what the manifests plan ---------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    surge: int  # pods added above the replica count
    unavailable: int  # pods below it the rollout may take down
    terminating: int  # old pods still draining at once, at most


def rollout_of(deployment: Manifest, replicas: int) -> Rollout:
    """What a rolling update of `deployment` at `replicas` adds and takes down.

    Each step takes down maxSurge + maxUnavailable old pods, which drain for
    up to terminationGracePeriodSeconds; steps are at least minReadySeconds
    apart, so ceil(grace / minReadySeconds) steps' pods can be terminating
    together, and never more than the old pods.
    """
    strategy = "spec.strategy.rollingUpdate"
    surge = scaled(
        deployment.get(f"{strategy}.maxSurge", "25%"),
        replicas,
        round_up=True,
        field=f"{strategy}.maxSurge",
        of=deployment,
    )
    unavailable = scaled(
        deployment.get(f"{strategy}.maxUnavailable", "25%"),
        replicas,
        round_up=False,
        field=f"{strategy}.maxUnavailable",
        of=deployment,
    )
    if surge == 0 and unavailable == 0:
        raise deployment.error(strategy, "maxSurge and maxUnavailable cannot both be 0")
    grace = deployment.integer("spec.template.spec.terminationGracePeriodSeconds", 30)
    ready = deployment.integer("spec.minReadySeconds", 0)
    steps = math.ceil(grace / ready) if ready else replicas
    return Rollout(surge, unavailable, min(replicas, steps * (surge + unavailable)))


@dataclass(frozen=True)
class Web:
    """The web Deployment, its autoscaler and the settings its pods get."""

    deployment: Manifest
    scaler: Manifest | None
    min_replicas: int
    max_replicas: int
    max_field: str
    workers: int
    threads: int
    pool: PoolOptions
    pooled: bool

    def rollout(self, replicas: int) -> Rollout:
        return rollout_of(self.deployment, replicas)


def _number(config: dict[str, str], name: str, of: Manifest) -> int:
    raw = config.get(name)
    if raw is None:
        raise of.error(f"env {name}", "not set: the plan depends on it")
    try:
        return int(raw)
    except ValueError:
        raise of.error(f"env {name}", f"expected a whole number, not {raw!r}") from None


def read_web(manifests: Manifests) -> Web:
    candidates = []
    for deployment in manifests.of_kind("Deployment"):
        for _, container in containers(deployment):
            env = manifests.environment(deployment, container)
            if "WEB_CONCURRENCY" in env:
                candidates.append((deployment, env))
    if len(candidates) != 1:
        found = ", ".join(d.where("") for d, _ in candidates) or "none"
        raise Nonsense(
            "expected one web Deployment (a container given WEB_CONCURRENCY) among the "
            f"manifests read, found {found}"
        )
    deployment, env = candidates[0]
    scalers = manifests.scalers_of(deployment)
    if len(scalers) > 1:
        raise Nonsense(
            f"{', '.join(s.where('spec.scaleTargetRef') for s in scalers)}: two autoscalers "
            "for one Deployment fight over it: apply hpa.yaml or keda/scaledobject.yaml, not both"
        )
    scaler = scalers[0] if scalers else None
    if scaler is None:
        replicas = deployment.integer("spec.replicas", 1)
        low, high, field, owner = replicas, replicas, "spec.replicas", deployment
    elif scaler.kind == "HorizontalPodAutoscaler":
        low = scaler.integer("spec.minReplicas", 1)
        high = scaler.integer("spec.maxReplicas")
        field, owner = "spec.maxReplicas", scaler
    else:
        low = scaler.integer("spec.minReplicaCount", 0)
        high = scaler.integer("spec.maxReplicaCount", 100)
        field, owner = "spec.maxReplicaCount", scaler
    if high < 1 or low > high:
        raise Nonsense(f"{owner.where(field)}: {high} replicas at most, {low} at least")
    workers = _number(env, "WEB_CONCURRENCY", deployment)
    threads = _number(env, "WEB_THREADS", deployment)
    if workers < 1 or threads < 1:
        raise Nonsense(f"{deployment.where('env WEB_CONCURRENCY/WEB_THREADS')}: must be at least 1")
    # Unset variables keep the backend's own defaults, as widgetworld/settings.py does.
    given = {
        key: _number(env, name, deployment) for key, name in POOL_VARIABLES.items() if name in env
    }
    try:
        pool = PoolOptions.from_mapping(
            {**given, "threads": threads}, where=deployment.where("env WIDGETWORLD_DB_POOL_*")
        )
    except ImproperlyConfigured as error:
        raise Nonsense(str(error)) from None
    pooled = env.get("WIDGETWORLD_DB_POOL", "true").lower() not in ("false", "0", "no", "off")
    return Web(deployment, scaler, low, high, owner.where(field), workers, threads, pool, pooled)


@dataclass(frozen=True)
class Bouncer:
    """An optional PgBouncer Deployment and the pgbouncer.ini it mounts."""

    deployment: Manifest
    config: Manifest
    replicas: int
    per_pod: int  # server connections: default_pool_size + reserve_pool_size, capped
    max_client_conn: int
    worst_pods: int
    available_pods: int


def read_bouncer(manifests: Manifests) -> Bouncer | None:
    for deployment in manifests.of_kind("Deployment"):
        for volume in pod_spec(deployment).get("volumes", []):
            name = volume.get("configMap", {}).get("name")
            config = manifests.find("ConfigMap", name, deployment.namespace) if name else None
            if config is not None and "pgbouncer.ini" in (config.get("data") or {}):
                return _bouncer(deployment, config)
    return None


def _bouncer(deployment: Manifest, config: Manifest) -> Bouncer:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(config.get("data")["pgbouncer.ini"])
        section = parser["pgbouncer"]
    except (configparser.Error, KeyError) as error:
        raise config.error(
            "data.pgbouncer.ini", f"not a PgBouncer configuration: {error}"
        ) from None

    def setting(name: str, default: int) -> int:
        try:
            return int(section.get(name, str(default)) or default)
        except ValueError:
            raise config.error(f"data.pgbouncer.ini {name}", "expected a whole number") from None

    per_pod = setting("default_pool_size", 20) + setting("reserve_pool_size", 0)
    if cap := setting("max_db_connections", 0):
        per_pod = min(per_pod, cap)
    replicas = deployment.integer("spec.replicas", 1)
    rollout = rollout_of(deployment, replicas)
    return Bouncer(
        deployment,
        config,
        replicas,
        per_pod,
        setting("max_client_conn", 100),
        replicas + rollout.surge + rollout.terminating,
        max(1, replicas - rollout.unavailable),
    )


# -- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    name: str
    running: int
    rollout: Rollout | None
    processes: int
    minimum: int
    ceilings: tuple[int, ...]  # each process's, in the order of their names

    @property
    def pools(self) -> int:
        return sum(self.ceilings)

    def per_process(self) -> str:
        return _span(min(self.ceilings), max(self.ceilings))

    def per_pod(self, workers: int) -> str:
        return _span(min(self.ceilings) * workers, max(self.ceilings) * workers)

    @property
    def pods(self) -> int:
        extra = self.rollout.surge + self.rollout.terminating if self.rollout else 0
        return self.running + extra

    @property
    def pods_text(self) -> str:
        if not self.rollout:
            return str(self.running)
        return f"{self.running} + {self.rollout.surge} + {self.rollout.terminating}"


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def ceilings(server: Server, web: Web, processes: int) -> tuple[int, ...]:
    """Each process's pool ceiling once all of them have looked, by the pool's own formula.

    They differ by one where the share does not divide evenly (budget.py's `part`).
    """
    fleet = DEFAULT_FLEET
    names = [f"{fleet}/plan/{n:06d}" for n in range(processes)]
    connections = {("(other clients)", "active"): server.others}
    connections.update({(name, "idle"): web.pool.min_size for name in names})
    stats = ServerStats(server.max_connections, server.reserved, connections)
    return tuple(
        compute_share(
            stats,
            fleet=fleet,
            me=name,
            headroom=web.pool.headroom,
            min_size=web.pool.min_size,
            max_size=web.pool.max_size,
            threads=web.threads,
        ).ceiling
        for name in names
    )


def moments(server: Server, web: Web) -> list[Moment]:
    plan = []
    for label, replicas in (("minReplicas", web.min_replicas), ("maxReplicas", web.max_replicas)):
        for rollout in (None, web.rollout(replicas)):
            pods = replicas + (rollout.surge + rollout.terminating if rollout else 0)
            processes = pods * web.workers
            each = ceilings(server, web, processes) if web.pooled else (web.threads,) * processes
            plan.append(
                Moment(
                    f"{'rollout' if rollout else 'steady'} at {label}",
                    replicas,
                    rollout,
                    processes,
                    processes * (web.pool.min_size if web.pooled else web.threads),
                    each,
                )
            )
    return plan


def budget(server: Server, web: Web) -> int:
    return server.max_connections - server.reserved - web.pool.headroom


def fits_at(server: Server, web: Web, replicas: int) -> bool:
    rollout = web.rollout(replicas)
    pods = replicas + rollout.surge + rollout.terminating
    need = pods * web.workers * (web.pool.min_size if web.pooled else web.threads)
    return need <= budget(server, web) - server.others


def verdict(server: Server, web: Web, bouncer: Bouncer | None) -> str:
    """The one line that ends the plan; DoesNotFit when the worst moment cannot fit."""
    worst = moments(server, web)[-1]
    room = budget(server, web) - server.others
    explained = (
        f"the budget is {room} (max_connections {server.max_connections} - {server.reserved} "
        f"reserved - {web.pool.headroom} headroom - {server.others} other clients)"
    )
    if room <= 0:
        raise DoesNotFit(
            f"{web.deployment.where('env WIDGETWORLD_DB_POOL_HEADROOM')}: nothing is left for "
            f"WidgetWorld: {explained}"
        )
    if not web.pooled and bouncer is not None:
        return _bouncer_verdict(web, bouncer, worst, room, explained)
    if worst.minimum <= room:
        what = "for its minimum pools" if web.pooled else "(one per thread, pool off)"
        return (
            f"OK: the worst moment ({worst.name}, {worst.pods} pods) needs {worst.minimum} "
            f"connections {what}; {explained}"
        )
    largest = next((n for n in range(web.max_replicas, 0, -1) if fits_at(server, web, n)), 0)
    per = (
        f"WIDGETWORLD_DB_POOL_MIN={web.pool.min_size}"
        if web.pooled
        else f"{web.threads} threads, pool off (WIDGETWORLD_DB_POOL=false)"
    )
    raise DoesNotFit(
        f"{web.max_field}={web.max_replicas}: the worst moment ({worst.pods_text} pods x "
        f"{web.workers} workers x {per}) needs {worst.minimum} connections; {explained}; "
        + (f"at most {largest} replicas fit" if largest else "not even 1 replica fits")
    )


def _bouncer_verdict(web: Web, bouncer: Bouncer, worst: Moment, room: int, explained: str) -> str:
    server_side = bouncer.worst_pods * bouncer.per_pod
    if server_side > room:
        raise DoesNotFit(
            f"{bouncer.config.where('data.pgbouncer.ini default_pool_size')}: "
            f"{bouncer.worst_pods} PgBouncer pods at worst x {bouncer.per_pod} server connections "
            f"= {server_side}; {explained}"
        )
    clients = worst.processes * web.threads
    capacity = bouncer.available_pods * bouncer.max_client_conn
    if clients > capacity:
        raise DoesNotFit(
            f"{bouncer.config.where('data.pgbouncer.ini max_client_conn')}: "
            f"{bouncer.max_client_conn} x {bouncer.available_pods} PgBouncer pod(s) always up "
            f"< {clients} client connections at the worst moment"
        )
    return (
        f"OK: through PgBouncer, {server_side} server connections at most and {clients} "
        f"client connections at the worst moment; {explained}"
    )


def render(server: Server, web: Web, bouncer: Bouncer | None, name: str = "") -> str:
    plan = moments(server, web)
    scaler = web.scaler.where("").rstrip() if web.scaler else "no autoscaler"
    rollout = web.rollout(web.max_replicas)
    d = web.deployment
    grace = d.integer("spec.template.spec.terminationGracePeriodSeconds", 30)
    ready = d.integer("spec.minReadySeconds", 0)
    lines = [
        f"WidgetWorld connection plan: {display(d.path)} ({d.kind}/{d.name})",
        "",
        f"Server{' ' + name if name else ''} (from {server.source})",
        f"  max_connections                              {server.max_connections:>6}",
        f"  reserved for superusers                      {server.reserved:>6}",
        f"  headroom (WIDGETWORLD_DB_POOL_HEADROOM)      {web.pool.headroom:>6}",
        f"  other clients                                {server.others:>6}",
        f"  left for WidgetWorld                         {budget(server, web) - server.others:>6}",
        "",
        f"Pods: {web.workers} processes (WEB_CONCURRENCY) x {web.threads} threads "
        f"(WEB_THREADS); replicas {web.min_replicas}..{web.max_replicas} ({scaler})",
    ]
    if web.pooled:
        lines.append(
            f"Pool per process: at least {web.pool.min_size} (WIDGETWORLD_DB_POOL_MIN), at most "
            f"min(its share, {web.pool.max_size} WIDGETWORLD_DB_POOL_MAX, {web.threads} threads)"
        )
    else:
        lines.append("Pool: off (WIDGETWORLD_DB_POOL=false): up to one connection per thread")
    lines += [
        f"Rollout: pods running + surge (maxSurge) + terminating; minReadySeconds {ready}, "
        f"terminationGracePeriodSeconds {grace}: at maxReplicas {rollout.surge} surge, "
        f"{rollout.terminating} terminating",
        "",
        f"  {'moment':<24} {'pods':>12} {'processes':>10} {'minimum':>8} "
        f"{'ceiling/process':>16} {'ceiling/pod':>12} {'pools at most':>14}",
    ]
    lines += [
        f"  {m.name:<24} {m.pods_text:>12} {m.processes:>10} {m.minimum:>8} "
        f"{m.per_process():>16} {m.per_pod(web.workers):>12} {m.pools:>14}"
        for m in plan
    ]
    worst = plan[-1]
    lines += [
        "",
        f"Headroom: {web.pool.headroom} slots outside the pools' budget, plus {server.reserved} "
        "for superusers: the migration Job (one connection), admins, monitoring, and each "
        f"process's sampling connection (a moment at each look; up to {worst.processes} at "
        "once when the fleet changes).",
        "",
        "PgBouncer in transaction mode, if put in front (docs/scaling.md):",
        f"  client connections at the worst moment: {worst.processes} processes x "
        f"{web.threads} threads = {worst.processes * web.threads} (one per thread)",
        f"  server connections: at most {budget(server, web) - server.others}, "
        "shared by every PgBouncer pod, surge included",
    ]
    if bouncer is not None:
        lines.append(
            f"  {display(bouncer.config.path)}: {bouncer.worst_pods} pods at worst x "
            f"{bouncer.per_pod} = {bouncer.worst_pods * bouncer.per_pod} server connections; "
            f"max_client_conn {bouncer.max_client_conn} x {bouncer.available_pods} pod(s) up; "
            + ("in use" if not web.pooled else "not in use (WIDGETWORLD_DB_POOL is on)")
        )
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.capacity",
        description="Will the planned fleet's connections fit the database? (docs/scaling.md)",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="manifest files or folders (default: deploy/kubernetes, its migrate/ and pgbouncer/)",
    )
    parser.add_argument("--max-connections", type=int, help="the server's max_connections")
    parser.add_argument(
        "--reserved",
        type=int,
        default=DEFAULT_RESERVED,
        help="superuser_reserved_connections (+ reserved_connections); default 3",
    )
    parser.add_argument(
        "--other-clients", type=int, default=0, help="connections other applications hold"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="read max_connections and other clients from this server (default: $DATABASE_URL)",
    )
    parser.add_argument(
        "--replica-max-connections",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="a read replica's max_connections, once per replica: each server is planned alone",
    )
    parser.add_argument(
        "--replica-urls",
        default=os.environ.get("DATABASE_REPLICA_URLS", ""),
        help="read each replica's numbers from it, comma-separated, when the primary's are read "
        "from it too (default: $DATABASE_REPLICA_URLS)",
    )
    return parser.parse_args(argv)


def replica_servers(options: argparse.Namespace, primary: Server) -> list[Server]:
    """The read replicas' servers: every pod opens a pool on each, within each one's budget."""
    if options.replica_max_connections:
        replicas = [Server.given(n, options.reserved, 0) for n in options.replica_max_connections]
    elif options.max_connections is None:
        # The primary is asked, so the replicas are too.
        urls = [url for url in options.replica_urls.split(",") if url]
        replicas = [Server.sampled(url) for url in urls]
    else:
        replicas = []
    for number, replica in enumerate(replicas, start=1):
        if replica.max_connections < primary.max_connections:
            # PostgreSQL refuses to run such a hot standby.
            raise Nonsense(
                f"replica{number}'s max_connections ({replica.max_connections}) is below the "
                f"primary's ({primary.max_connections}): a standby needs at least as many"
            )
    return replicas


def run(options: argparse.Namespace) -> str:
    if options.max_connections is not None:
        server = Server.given(options.max_connections, options.reserved, options.other_clients)
    elif options.database_url:
        server = Server.sampled(options.database_url)
    else:
        raise Nonsense(
            "give --max-connections, or a database to ask (--database-url or DATABASE_URL)"
        )
    manifests = Manifests.read(options.paths or DEFAULT_PATHS)
    found = problems(manifests)
    if found:
        raise Nonsense(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    web = read_web(manifests)
    bouncer = read_bouncer(manifests)
    replicas = replica_servers(options, server)
    plans: list[str] = []
    # The primary first, then each replica: every pod's processes open a pool
    # on each server, and each server's budget is its own.
    servers = [("primary" if replicas else "", server, bouncer)]
    servers += [(f"replica{n}", replica, None) for n, replica in enumerate(replicas, start=1)]
    for name, each, its_bouncer in servers:
        plan = render(each, web, its_bouncer, name)
        try:
            plans.append(
                plan + "\n\n" + (f"{name}: " if name else "") + verdict(each, web, its_bouncer)
            )
        except DoesNotFit as error:
            sys.stdout.write("\n\n".join([*plans, plan]) + "\n\n")
            raise DoesNotFit(f"{name}: {error}" if name else str(error)) from None
    return "\n\n".join(plans)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse(argv)
    except SystemExit as exit_:  # argparse has said why (e.g. "--max-connections: invalid int")
        return 2 if exit_.code else 0
    try:
        sys.stdout.write(run(options) + "\n")
    except (Nonsense, ManifestError) as error:
        sys.stderr.write(f"capacity: {error}\n")
        return 2
    except DoesNotFit as error:
        sys.stderr.write(f"capacity: DOES NOT FIT: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
