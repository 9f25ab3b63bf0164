"""`python -m devtools.capacity`: the plan, the verdict, and its answer to nonsense."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import psycopg
import pytest

from devtools.capacity import main
from devtools.localdb import PostgresCluster
from devtools.manifests import BASE_DIR
from tests.conftest import MakePostgres
from tests.deploy.conftest import Edit

PLANNED = "200"  # the Makefile's PLANNED_MAX_CONNECTIONS


def command(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m devtools.capacity` as `make test` and on-call run it."""
    return subprocess.run(
        [sys.executable, "-m", "devtools.capacity", *map(str, args)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        # A bare environment, but for `make test`'s coverage of the processes it starts.
        env={
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k == "COVERAGE_PROCESS_CONFIG"},
        },
    )


def capacity(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The same command's answer, from `main()` in this process: a subprocess costs a second.

    With the environment it reads (DATABASE_URL, DATABASE_REPLICA_URLS) as
    bare as `command`'s.
    """
    out, err = io.StringIO(), io.StringIO()
    read = ("DATABASE_URL", "DATABASE_REPLICA_URLS")
    env = {k: v for k, v in os.environ.items() if k not in read}
    with (
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main([str(arg) for arg in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def folders(root: Path, *names: str) -> list[Path]:
    return [root / name for name in names]


def test_the_shipped_manifests_fit_the_planned_database() -> None:
    result = command("--max-connections", PLANNED)

    assert (result.returncode, result.stdout.splitlines()[-1][:3]) == (0, "OK:"), result.stderr


def test_the_plan_shows_each_moment_with_its_pool_ceilings() -> None:
    moments = [
        line.split()[:3]
        for line in capacity("--max-connections", PLANNED).stdout.splitlines()
        if line.strip().startswith(("steady", "rollout"))
    ]

    assert moments == [
        ["steady", "at", "minReplicas"],
        ["rollout", "at", "minReplicas"],
        ["steady", "at", "maxReplicas"],
        ["rollout", "at", "maxReplicas"],
    ]


def test_the_worst_moment_counts_surge_and_terminating_pods() -> None:
    worst = next(
        line
        for line in capacity("--max-connections", PLANNED).stdout.splitlines()
        if line.strip().startswith("rollout at maxReplicas")
    )

    # maxReplicas 10, maxSurge 25% (3 pods), one step's 3 pods still draining; 2 workers each.
    assert worst.split()[3:9] == ["10", "+", "3", "+", "3", "32"]


def test_a_large_fleet_is_planned_to_use_the_whole_budget(edit: Edit, copy: Path) -> None:
    """At 50 pods a share of 1.45 per process: 45 processes get 2, not all of them 1."""
    edit("hpa.yaml", "HorizontalPodAutoscaler", lambda h: h["spec"].update(maxReplicas=50))
    plan = capacity("--max-connections", PLANNED, *folders(copy, "", "migrate")).stdout

    steady = next(line for line in plan.splitlines() if "steady at maxReplicas" in line)

    # 200 - 3 - 4 = 193 slots; 48 (a quarter) kept for processes joining; 145 for 100 processes.
    assert steady.split()[-3:] == ["1-2", "2-4", "145"]


def test_a_plan_that_cannot_fit_names_the_file_and_field(edit: Edit, copy: Path) -> None:
    edit("hpa.yaml", "HorizontalPodAutoscaler", lambda h: h["spec"].update(maxReplicas=80))

    result = capacity(*folders(copy, "", "migrate"), "--max-connections", PLANNED)

    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert f"{copy / 'hpa.yaml'}: HorizontalPodAutoscaler/web spec.maxReplicas=80" in result.stderr
    assert "at most 64 replicas fit" in result.stderr


def test_without_min_ready_seconds_every_old_pod_may_still_be_draining(
    edit: Edit, copy: Path
) -> None:
    """Rollout steps then follow each other at once: 10 + 3 + 10 pods, 46 processes."""
    edit("deployment.yaml", "Deployment", lambda d: d["spec"].pop("minReadySeconds"))

    result = capacity(*folders(copy, "", "migrate"), "--max-connections", "50")

    assert (result.returncode, "(10 + 3 + 10 pods" in result.stderr) == (1, True), result.stderr


def test_a_manifest_with_a_missing_probe_is_named(edit: Edit, copy: Path) -> None:
    edit(
        "deployment.yaml",
        "Deployment",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe"),
    )

    result = capacity(*folders(copy, "", "migrate"), "--max-connections", PLANNED)

    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            f"capacity: {copy / 'deployment.yaml'}: Deployment/web "
            "spec.template.spec.containers[0].livenessProbe: missing"
        ],
    )


def test_an_hpa_pointing_at_nothing_is_named(edit: Edit, copy: Path) -> None:
    edit(
        "hpa.yaml",
        "HorizontalPodAutoscaler",
        lambda h: h["spec"]["scaleTargetRef"].update(name="shop"),
    )

    result = capacity(*folders(copy, "", "migrate"), "--max-connections", PLANNED)

    assert (result.returncode, "spec.scaleTargetRef.name: Deployment 'shop'" in result.stderr) == (
        2,
        True,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-connections", "0"], "--max-connections must be a positive number, not 0"),
        (["--max-connections", "-20"], "--max-connections must be a positive number, not -20"),
        (["--max-connections", "lots"], "invalid int value: 'lots'"),
        (["--max-connections", "3"], "--reserved 3 leaves no connection"),
        ([], "give --max-connections, or a database to ask"),
        (["--database-url", "postgres://nobody@127.0.0.1:1/x"], "cannot read max_connections"),
        (["no/such/folder", "--max-connections", "200"], "no/such/folder: no such file"),
    ],
)
def test_nonsense_gets_a_clear_line_and_exit_2(args: list[str], message: str) -> None:
    result = capacity(*args)

    assert (result.returncode, message in result.stderr, "Traceback" in result.stderr) == (
        2,
        True,
        False,
    ), result.stderr


def test_unreadable_yaml_gets_a_clear_line_and_exit_2(copy: Path) -> None:
    (copy / "hpa.yaml").write_text("spec: [maxReplicas: 10\n")

    result = capacity(copy, "--max-connections", PLANNED)

    assert (
        result.returncode,
        result.stderr.startswith(f"capacity: {copy / 'hpa.yaml'}: not valid YAML"),
    ) == (2, True)


def test_a_non_number_in_the_configmap_is_named(edit: Edit, copy: Path) -> None:
    edit("configmap.yaml", "ConfigMap", lambda c: c["data"].update(WEB_CONCURRENCY="two"))

    result = capacity(copy, "--max-connections", PLANNED)

    assert (
        result.returncode,
        "env WEB_CONCURRENCY: expected a whole number, not 'two'" in result.stderr,
    ) == (2, True)


def test_keda_instead_of_the_hpa_is_planned_the_same(copy: Path) -> None:
    (copy / "hpa.yaml").unlink()

    result = capacity(*folders(copy, "", "keda"), "--max-connections", PLANNED)

    assert (result.returncode, "ScaledObject/web" in result.stdout) == (0, True), result.stderr


def test_two_autoscalers_for_one_deployment_are_refused(copy: Path) -> None:
    result = capacity(*folders(copy, "", "keda"), "--max-connections", PLANNED)

    assert (result.returncode, "two autoscalers" in result.stderr) == (2, True)


# -- without the pool ----------------------------------------------------------------------


def _pool_off(config: dict) -> None:
    config["data"]["WIDGETWORLD_DB_POOL"] = "false"


def test_without_pool_or_pgbouncer_every_thread_counts(edit: Edit, copy: Path) -> None:
    """32 processes x 8 threads is 256 connections: more than 193."""
    edit("configmap.yaml", "ConfigMap", _pool_off)

    result = capacity(copy, "--max-connections", PLANNED)

    assert (result.returncode, "needs 256 connections" in result.stderr) == (1, True)


def test_behind_pgbouncer_its_server_pool_is_what_must_fit(edit: Edit, copy: Path) -> None:
    edit("configmap.yaml", "ConfigMap", _pool_off)

    result = capacity(*folders(copy, "", "pgbouncer"), "--max-connections", PLANNED)

    assert (result.returncode, "through PgBouncer, 180 server connections" in result.stdout) == (
        0,
        True,
    ), result.stderr


def test_a_pgbouncer_that_takes_more_than_the_budget_is_named(edit: Edit, copy: Path) -> None:
    edit("configmap.yaml", "ConfigMap", _pool_off)

    result = capacity(*folders(copy, "", "pgbouncer"), "--max-connections", "150")

    assert (
        result.returncode,
        "pgbouncer/configmap.yaml: ConfigMap/pgbouncer" in result.stderr,
    ) == (
        1,
        True,
    )


# -- from the database -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(make_postgres: MakePostgres) -> PostgresCluster:
    return make_postgres({"max_connections": 40})


def test_max_connections_and_other_clients_come_from_the_database(
    small_server: PostgresCluster,
) -> None:
    url = small_server.credentials("postgres").url
    with (
        psycopg.connect(url, application_name="reporting"),
        psycopg.connect(url, application_name="reporting"),
    ):
        result = capacity("--database-url", url)

    # 40 - 3 reserved - 4 headroom - 2 other clients: 31 < 32 for the worst moment.
    assert (result.returncode, "Server (from the database)" in result.stdout) == (1, True)
    assert (
        "the budget is 31 (max_connections 40 - 3 reserved - 4 headroom - 2 other" in result.stderr
    )


def test_each_replica_is_planned_against_its_own_budget() -> None:
    result = capacity("--max-connections", PLANNED, "--replica-max-connections", "300")
    verdicts = [line.split(":")[0] for line in result.stdout.splitlines() if ": OK: " in line]
    budgets = [
        line.split("the budget is ")[1].split()[0]
        for line in result.stdout.splitlines()
        if ": OK: " in line
    ]

    assert (result.returncode, verdicts, budgets) == (0, ["primary", "replica1"], ["193", "293"])


def test_a_replica_with_fewer_connections_than_its_primary_is_refused() -> None:
    result = capacity("--max-connections", PLANNED, "--replica-max-connections", "100")

    assert (result.returncode, "below the primary's (200)" in result.stderr) == (2, True)
