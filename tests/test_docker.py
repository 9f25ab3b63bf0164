"""docker-compose.yml and the Dockerfile, checked by real tools and by reading them.

No Docker engine runs where these tests run, so nothing here builds or starts
a container: the README says so. The Compose Specification's JSON schema
(check-jsonschema) and hadolint check both files as Docker would read them;
the tests below them pin what we decided.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = "gunicorn -c widgetworld/gunicorn.conf.py"
# The virtualenv's scripts: check-jsonschema and hadolint come with `make install`.
SCRIPTS = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (BASE_DIR / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def command_of(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else shlex.join(command)


def lint(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / command[0]), *command[1:]],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_follows_the_compose_specification() -> None:
    result = lint(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = lint("hadolint", "--no-color", "Dockerfile")

    assert result.returncode == 0, result.stdout + result.stderr


def one_shot_jobs(compose: dict[str, Any]) -> set[str]:
    """Services others wait for to finish (`service_completed_successfully`), like `migrate`.

    A job runs and exits: "healthy" means nothing for it, its exit status is the check.
    """
    waits = [
        (name, condition["condition"])
        for service in compose["services"].values()
        for name, condition in (service.get("depends_on") or {}).items()
        if isinstance(condition, dict)
    ]
    finished = {name for name, condition in waits if condition == "service_completed_successfully"}
    return finished - {
        name for name, condition in waits if condition != "service_completed_successfully"
    }


def test_every_service_says_when_it_is_healthy(compose: dict[str, Any]) -> None:
    """Without a healthcheck, `depends_on: service_healthy` cannot wait for a service."""
    unchecked = [
        name
        for name, service in compose["services"].items()
        if name not in one_shot_jobs(compose)
        and (
            not service.get("healthcheck", {}).get("test") or service["healthcheck"].get("disable")
        )
    ]

    assert unchecked == []


def test_database_sets_max_connections_explicitly(compose: dict[str, Any]) -> None:
    assert "max_connections=" in command_of(compose["services"]["db"])


def test_database_is_the_official_postgres_image_with_a_named_volume(
    compose: dict[str, Any],
) -> None:
    db = compose["services"]["db"]
    volume = db["volumes"][0].split(":")[0]

    assert (db["image"].split(":")[0], volume in compose["volumes"]) == ("postgres", True)


def test_database_health_is_pg_isready(compose: dict[str, Any]) -> None:
    assert "pg_isready" in " ".join(compose["services"]["db"]["healthcheck"]["test"])


def test_web_waits_for_a_healthy_database_and_the_migrations(compose: dict[str, Any]) -> None:
    depends_on = compose["services"]["web"]["depends_on"]

    assert (depends_on["db"], depends_on["migrate"]) == (
        {"condition": "service_healthy"},
        {"condition": "service_completed_successfully"},
    )


def test_web_uses_the_cache_service_once_it_is_healthy(compose: dict[str, Any]) -> None:
    web = compose["services"]["web"]

    assert (web["environment"]["CACHE_URL"], web["depends_on"]["cache"]) == (
        "redis://cache:6379/0",
        {"condition": "service_healthy"},
    )


def test_the_cache_is_valkey_with_a_ping_healthcheck_and_no_disk(compose: dict[str, Any]) -> None:
    cache = compose["services"]["cache"]

    assert (
        cache["image"].startswith("valkey/valkey:"),
        "ping" in cache["healthcheck"]["test"],
        "--save" in cache["command"],
    ) == (True, True, True)


def test_the_migrator_role_migrates_and_the_web_role_serves(compose: dict[str, Any]) -> None:
    migrate, web = compose["services"]["migrate"], compose["services"]["web"]

    assert (
        "migrate --noinput" in command_of(migrate),
        migrate["environment"]["DATABASE_URL"].startswith("postgres://widgetworld_migrator:"),
        command_of(web),
        web["environment"]["DATABASE_URL"].startswith("postgres://widgetworld_web:"),
    ) == (True, True, GUNICORN, True)


def test_web_has_a_healthcheck_on_livez(compose: dict[str, Any]) -> None:
    assert "/livez" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_every_compose_secret_comes_from_the_environment(compose: dict[str, Any]) -> None:
    secret_names = ("PASSWORD", "SECRET")
    literal = {
        f"{name}={service}.{key}"
        for name, service in compose["services"].items()
        for key, value in service.get("environment", {}).items()
        if any(word in key for word in secret_names) and "${" not in str(value)
    }

    assert literal == set()


def test_the_image_runs_as_an_unprivileged_user(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for instruction, args in dockerfile if instruction == "USER"]

    # No USER instruction at all means root.
    assert (users or ["root"])[-1] not in ("root", "0")


def test_the_image_runs_the_production_command(dockerfile: list[tuple[str, str]]) -> None:
    [cmd] = [args for instruction, args in dockerfile if instruction == "CMD"]

    assert " ".join(yaml.safe_load(cmd)) == GUNICORN


def test_the_image_copies_only_the_runtime_packages(dockerfile: list[tuple[str, str]]) -> None:
    copied = {
        source
        for instruction, args in dockerfile
        if instruction == "COPY"
        for source in args.split()[:-1]
    }

    assert copied == {
        "pyproject.toml",
        "constraints.txt",
        "manage.py",
        "core",
        "catalog",
        "widgetworld",
    }


def test_the_image_installs_only_the_runtime_dependencies(
    dockerfile: list[tuple[str, str]],
) -> None:
    installs = [args for instruction, args in dockerfile if instruction == "RUN" and "pip" in args]

    assert ["['dependencies']" in args and "[dev]" not in args for args in installs] == [True]


def test_the_image_bakes_in_no_secret(dockerfile: list[tuple[str, str]]) -> None:
    environment = " ".join(
        args for instruction, args in dockerfile if instruction in ("ENV", "ARG")
    )

    assert not re.search(r"SECRET|PASSWORD|DATABASE_URL", environment)


def test_the_image_has_a_healthcheck(dockerfile: list[tuple[str, str]]) -> None:
    assert any(instruction == "HEALTHCHECK" for instruction, _ in dockerfile)


# -- monitoring: prometheus and grafana ----------------------------------------------


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the repository), for bind mounts."""
    result = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            result[target] = source[2:]
    return result


def test_prometheus_loads_the_alert_rules_make_test_checks(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    config_path = mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load((BASE_DIR / config_path).read_text())

    [rules] = config["rule_files"]
    assert mounts(prometheus)[rules] == "deploy/prometheus/alerts.yml"


def test_prometheus_scrapes_the_web_service(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    config = yaml.safe_load(
        (BASE_DIR / mounts(prometheus)["/etc/prometheus/prometheus.yml"]).read_text()
    )

    [job] = config["scrape_configs"]
    assert (job["metrics_path"], job["static_configs"][0]["targets"]) == ("/metrics", ["web:9464"])


def test_the_metrics_port_is_never_published(compose: dict[str, Any]) -> None:
    web = compose["services"]["web"]

    assert (web["environment"]["METRICS_PORT"], web["ports"]) == ("9464", ["127.0.0.1:8000:8000"])


def test_the_web_service_lets_the_compose_network_scrape(compose: dict[str, Any]) -> None:
    networks = compose["services"]["web"]["environment"]["METRICS_ALLOWED_NETWORKS"].split(",")

    assert "172.16.0.0/12" in networks


def test_grafana_gets_prometheus_as_the_dashboards_data_source(compose: dict[str, Any]) -> None:
    grafana = mounts(compose["services"]["grafana"])
    provisioning = BASE_DIR / grafana["/etc/grafana/provisioning"]
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    dashboard = json.loads((BASE_DIR / "deploy" / "grafana" / "widgetworld.json").read_text())
    used = {panel["datasource"]["uid"] for panel in dashboard["panels"] if "datasource" in panel}

    assert (source["url"], used) == ("http://prometheus:9090", {source["uid"]})


def test_grafana_provisions_the_dashboard_it_mounts(compose: dict[str, Any]) -> None:
    grafana = mounts(compose["services"]["grafana"])
    provider = yaml.safe_load(
        (
            BASE_DIR / grafana["/etc/grafana/provisioning"] / "dashboards" / "widgetworld.yml"
        ).read_text()
    )["providers"][0]
    folder = provider["options"]["path"]

    assert grafana[f"{folder}/widgetworld.json"] == "deploy/grafana/widgetworld.json"


def test_monitoring_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    ports = [
        port for name in ("prometheus", "grafana") for port in compose["services"][name]["ports"]
    ]

    assert all(port.startswith("127.0.0.1:") for port in ports)


def test_grafana_waits_for_a_healthy_prometheus(compose: dict[str, Any]) -> None:
    depends_on = compose["services"]["grafana"]["depends_on"]

    assert depends_on == {"prometheus": {"condition": "service_healthy"}}


# -- load tests: locust master and workers ------------------------------------------


def option(service: dict[str, Any], name: str) -> str:
    """The value following `name` in a service's command."""
    command = service["command"]
    return str(command[command.index(name) + 1])


def test_the_locust_services_only_start_with_the_loadtest_profile(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    profiled = {name: service.get("profiles") for name, service in services.items()}

    assert {k: v for k, v in profiled.items() if v} == {
        "locust": ["loadtest"],
        "locust-worker": ["loadtest"],
        "replica": ["replica"],
    }


def test_locust_uses_the_official_image_at_the_version_we_lock(compose: dict[str, Any]) -> None:
    locked = re.search(r"^locust==(\S+)$", (BASE_DIR / "constraints.txt").read_text(), re.M)
    assert locked is not None
    images = {compose["services"][name]["image"] for name in ("locust", "locust-worker")}

    assert images == {f"locustio/locust:{locked.group(1)}"}


def test_the_master_runs_the_suite_headless_and_waits_for_workers(compose: dict[str, Any]) -> None:
    command = compose["services"]["locust"]["command"]

    assert {"--master", "--headless", "--expect-workers"} <= set(command)


def test_the_workers_report_to_the_master_service(compose: dict[str, Any]) -> None:
    worker = compose["services"]["locust-worker"]

    assert ("--worker" in worker["command"], option(worker, "--master-host")) == (True, "locust")


def test_both_run_our_locustfile_from_the_mounted_loadtests(compose: dict[str, Any]) -> None:
    for name in ("locust", "locust-worker"):
        service = compose["services"][name]
        in_container = Path(service["working_dir"]) / option(service, "-f")
        mounted = mounts(service)[str(in_container.parent)]

        assert (BASE_DIR / mounted / in_container.name).is_file(), name


def test_locust_sends_load_to_the_web_service_which_answers_to_that_name(
    compose: dict[str, Any],
) -> None:
    hosts = {option(compose["services"][n], "--host") for n in ("locust", "locust-worker")}
    allowed = compose["services"]["web"]["environment"]["ALLOWED_HOSTS"].split(",")

    assert (hosts, "web" in allowed) == ({"http://web:8000"}, True)


def test_locust_waits_for_a_healthy_web_service(compose: dict[str, Any]) -> None:
    conditions = {
        name: compose["services"][name]["depends_on"]["web"]["condition"]
        for name in ("locust", "locust-worker")
    }

    assert set(conditions.values()) == {"service_healthy"}


def test_the_suite_is_chosen_by_the_environment(compose: dict[str, Any]) -> None:
    assert compose["services"]["locust"]["environment"]["LOCUST_SUITE"] == "${SUITE:-smoke}"


# -- the optional read replica -----------------------------------------------------------


def test_the_replica_copies_db_with_pg_basebackup_once_it_is_healthy(
    compose: dict[str, Any],
) -> None:
    replica = compose["services"]["replica"]
    command = command_of(replica)

    assert (
        replica["image"] == compose["services"]["db"]["image"],
        "pg_basebackup" in command and "--host=db" in command,
        "--write-recovery-conf" in command,
        replica["depends_on"]["db"],
    ) == (True, True, True, {"condition": "service_healthy"})


def test_the_replica_is_healthy_only_as_a_standby(compose: dict[str, Any]) -> None:
    check = " ".join(compose["services"]["replica"]["healthcheck"]["test"])

    assert ("pg_isready" in check, "pg_is_in_recovery()" in check) == (True, True)


def test_db_lets_the_replica_stream(compose: dict[str, Any]) -> None:
    script = "./deploy/postgres/02-replication.sh"
    mounted = [v.split(":")[0] for v in compose["services"]["db"]["volumes"]]

    assert (script in mounted, "host replication" in (BASE_DIR / script).read_text()) == (
        True,
        True,
    )


def test_web_reads_from_a_replica_only_when_told(compose: dict[str, Any]) -> None:
    env = compose["services"]["web"]["environment"]

    assert env["DATABASE_REPLICA_URLS"] == "${DATABASE_REPLICA_URLS:-}"
