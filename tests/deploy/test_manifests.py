"""What the API schemas cannot check about deploy/kubernetes.

The probes reach real endpoints and answer there, the security context is the
restricted one, every container has resources, the drain outlasts gunicorn's
graceful timeout, the autoscaler targets the Deployment, labels and selectors
meet, the policies let through exactly who must get through, and the copies
kept in step (PrometheusRule, KEDA, prometheus-adapter) are in step.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from django.core.management import get_commands
from django.test import Client
from django.urls import Resolver404, resolve

from core.metrics import exporter
from devtools import prometheusrule
from devtools.manifests import (
    BASE_DIR,
    KUBERNETES_DIR,
    Manifest,
    Manifests,
    containers,
    labels_match,
    problems,
)
from tests.deploy.conftest import Edit, read
from tests.status.conftest import alert, payload
from tests.test_monitoring_config import exported

POD_IP = "10.1.2.3"


def one(manifests: Manifests, kind: str, name: str) -> Manifest:
    found = manifests.find(kind, name, "widgetworld")
    assert found is not None, f"no {kind}/{name}"
    return found


def web_container(manifests: Manifests) -> dict[str, Any]:
    return one(manifests, "Deployment", "web").get("spec.template.spec.containers")[0]


def pod_environment(manifests: Manifests) -> dict[str, str]:
    """The web container's variables as the kubelet would set them on a pod at POD_IP."""
    container = web_container(manifests)
    env = manifests.environment(one(manifests, "Deployment", "web"), container)
    return {name: value.replace("$(POD_IP)", POD_IP) for name, value in env.items()}


def test_the_shipped_manifests_have_no_problem(shipped: Manifests) -> None:
    assert problems(shipped) == []


# -- each check, broken once -----------------------------------------------------------


def _drop_readiness(d: dict) -> object:
    return d["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")


def _aim_hpa_elsewhere(h: dict) -> object:
    return h["spec"]["scaleTargetRef"].update(name="website")


def _short_grace(d: dict) -> object:
    return d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=20)


def _writable_root(d: dict) -> object:
    return d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
        readOnlyRootFilesystem=False
    )


def _no_limits(d: dict) -> object:
    return d["spec"]["template"]["spec"]["containers"][0]["resources"].pop("limits")


def _relabel_pods(d: dict) -> object:
    return d["spec"]["template"]["metadata"]["labels"].update({"app.kubernetes.io/component": "x"})


def _pin_replicas(d: dict) -> object:
    return d["spec"].update(replicas=3)


def _cronjob_as_root(c: dict) -> object:
    return c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"].update(
        runAsNonRoot=False
    )


def _probe_other_port(d: dict) -> object:
    return d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"].update(
        port=9000
    )


@pytest.mark.parametrize(
    ("file", "kind", "change", "expected"),
    [
        ("deployment.yaml", "Deployment", _drop_readiness, "containers[0].readinessProbe: missing"),
        ("hpa.yaml", "HorizontalPodAutoscaler", _aim_hpa_elsewhere, "spec.scaleTargetRef.name"),
        ("deployment.yaml", "Deployment", _short_grace, "terminationGracePeriodSeconds: 20 s"),
        ("deployment.yaml", "Deployment", _writable_root, "readOnlyRootFilesystem: must be True"),
        ("deployment.yaml", "Deployment", _no_limits, "resources.limits.cpu: missing"),
        ("deployment.yaml", "Deployment", _relabel_pods, "spec.selector: does not match"),
        ("deployment.yaml", "Deployment", _pin_replicas, "spec.replicas: set while an autoscaler"),
        ("deployment.yaml", "Deployment", _probe_other_port, "livenessProbe.port: 9000"),
        (
            "release-holds.yaml",
            "CronJob",
            _cronjob_as_root,
            "template.spec.securityContext.runAsNonRoot",
        ),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_broken_manifest_is_named_with_its_file_and_field(
    edit: Edit,
    file: str,
    kind: str,
    change: Callable[[dict[str, Any]], object],
    expected: str,
) -> None:
    path = edit(file, kind, change)

    found = problems(read(path.parent, "", "migrate"))

    assert any(line.startswith(str(path)) and expected in line for line in found), found


# -- probes ------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
def test_every_probe_path_is_a_route_of_the_app(shipped: Manifests, probe: str) -> None:
    path = web_container(shipped)[probe]["httpGet"]["path"]
    try:
        resolve(urlsplit(path).path)
    except Resolver404:
        pytest.fail(f"deploy/kubernetes/deployment.yaml {probe}.httpGet.path {path}: no such route")


@pytest.mark.django_db
@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
def test_every_probe_gets_a_200_as_the_kubelet_asks(
    shipped: Manifests, settings: Any, probe: str
) -> None:
    """The kubelet sends `Host: <pod IP>:<port>` over plain HTTP; ALLOWED_HOSTS must take it."""
    settings.ALLOWED_HOSTS = pod_environment(shipped)["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = True  # production's default (WIDGETWORLD_ENV=production)
    get = web_container(shipped)[probe]["httpGet"]

    response = Client().get(get["path"], HTTP_HOST=f"{POD_IP}:8000")

    assert response.status_code == 200


def test_readiness_leaves_out_what_every_pod_shares(shipped: Manifests) -> None:
    """A database outage or a fleet-wide surge must not empty the Service (docs/scaling.md)."""
    path = web_container(shipped)["readinessProbe"]["httpGet"]["path"]

    assert parse_qs(urlsplit(path).query).get("scope") == ["pod"]


# -- Alertmanager's webhook -------------------------------------------------------------


def alertmanager_webhook_url() -> str:
    """The URL deploy/kubernetes/README.md tells you to give Alertmanager."""
    found = re.search(
        r"http://web\.widgetworld\.svc[^`\s]*", (KUBERNETES_DIR / "README.md").read_text()
    )
    assert found, "deploy/kubernetes/README.md names no webhook URL"
    return found.group(0)


@pytest.mark.django_db
def test_alertmanager_posts_to_the_status_page_as_the_readme_says(
    shipped: Manifests, settings: Any
) -> None:
    """Inside the cluster: plain HTTP to the Service, no X-Forwarded-Proto, no redirect to follow.

    Alertmanager would follow a 301 as a GET, and the alert would be lost.
    """
    settings.ALLOWED_HOSTS = pod_environment(shipped)["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = True  # production's default (WIDGETWORLD_ENV=production)
    settings.STATUS_WEBHOOK_TOKEN = token = secrets.token_urlsafe()
    url = urlsplit(alertmanager_webhook_url())

    response = Client().post(
        url.path,
        payload(alert()),
        content_type="application/json",
        HTTP_HOST=url.netloc,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 200


def test_the_webhook_token_comes_from_the_secret_the_readme_creates(shipped: Manifests) -> None:
    env = {e["name"]: e for e in web_container(shipped)["env"]}
    key = env["STATUS_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]
    created = (
        (KUBERNETES_DIR / "README.md")
        .read_text()
        .split("kubectl -n widgetworld create secret generic widgetworld")[1]
        .split("```")[0]
    )

    assert (key["name"], f"--from-literal={key['key']}=" in created, key.get("optional")) == (
        "widgetworld",
        True,
        None,
    )


# -- settings ------------------------------------------------------------------------------


def test_the_pods_settings_pass_djangos_deployment_checks(shipped: Manifests) -> None:
    """The ConfigMap as the app reads it, with stand-ins for the Secret's values."""
    stand_ins = {
        # Random, as the real one is: production refuses a placeholder.
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "postgres://widgetworld:secret@db.example.com:5432/widgetworld",
        "METRICS_TOKEN": "stand-in",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WIDGETWORLD_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={**clean, **pod_environment(shipped), **stand_ins},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr


def test_the_pool_names_connections_after_the_pod(shipped: Manifests) -> None:
    env = {e["name"]: e for e in web_container(shipped)["env"]}

    assert env["WIDGETWORLD_HOST_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_every_management_command_the_manifests_run_exists(shipped: Manifests) -> None:
    commands = {
        container["command"][2]
        for workload in shipped.of_kind("Job", "CronJob")
        for _, container in containers(workload)
        if container.get("command", [])[:2] == ["python", "manage.py"]
    }

    assert (commands - set(get_commands()), "warm_cache" in commands) == (set(), True)


def test_the_job_migrates_before_anything_else_with_the_release_image(shipped: Manifests) -> None:
    job = one(shipped, "Job", "migrate")
    first = job.get("spec.template.spec.initContainers")[0]
    images = {container["image"] for _, container in containers(job)}

    assert (first["command"][2], images) == ("migrate", {web_container(shipped)["image"]})


# -- monitoring ---------------------------------------------------------------------------


def test_the_servicemonitor_scrapes_metrics_on_a_port_the_pods_serve(shipped: Manifests) -> None:
    monitor = one(shipped, "ServiceMonitor", "widgetworld")
    endpoint = monitor.get("spec.endpoints")[0]
    services = [
        s
        for s in shipped.of_kind("Service")
        if all(
            s.get("metadata.labels", {}).get(k) == v
            for k, v in monitor.get("spec.selector.matchLabels").items()
        )
    ]
    ports = [p for s in services for p in s.get("spec.ports") if p["name"] == endpoint["port"]]
    served = {p["name"]: p["containerPort"] for p in web_container(shipped)["ports"]}
    metrics_port = int(pod_environment(shipped)["METRICS_PORT"])

    assert ([served.get(p["targetPort"]) for p in ports], endpoint["path"]) == (
        [metrics_port],
        exporter.PATH,
    )


def test_the_ingress_never_reaches_the_metrics_port(shipped: Manifests) -> None:
    web = one(shipped, "Service", "web")

    assert [p["targetPort"] for p in web.get("spec.ports")] == ["http"]


def test_the_job_label_is_the_one_the_alerts_select(shipped: Manifests) -> None:
    monitor = one(shipped, "ServiceMonitor", "widgetworld")
    service = one(shipped, "Service", "web-metrics")

    assert service.get("metadata.labels")[monitor.get("spec.jobLabel")] == "widgetworld"


def test_the_prometheusrule_is_generated_from_alerts_yml() -> None:
    assert (KUBERNETES_DIR / "prometheusrule.yaml").read_text() == prometheusrule.render(
        prometheusrule.ALERTS.read_text()
    ), "deploy/kubernetes/prometheusrule.yaml is out of step with alerts.yml: run make manifests"


def test_the_prometheusrule_check_fails_when_out_of_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text("# edited by hand\n")
    monkeypatch.setattr(prometheusrule, "TARGET", stale)

    assert prometheusrule.main(["--check"]) == 1


# -- autoscaling ---------------------------------------------------------------------------


def adapter_rule() -> dict[str, Any]:
    rules = yaml.safe_load((KUBERNETES_DIR / "prometheus-adapter" / "rules.yaml").read_text())
    return rules["rules"][0]


def test_the_hpa_scales_on_the_metric_the_adapter_serves(shipped: Manifests) -> None:
    hpa = one(shipped, "HorizontalPodAutoscaler", "web")
    pods_metrics = [
        m["pods"]["metric"]["name"] for m in hpa.get("spec.metrics") if m["type"] == "Pods"
    ]

    assert pods_metrics == [adapter_rule()["name"]["as"]]


def test_the_adapter_reads_a_counter_the_app_exports() -> None:
    series = adapter_rule()["seriesQuery"].split("{")[0]

    assert series in exported()


def test_a_surge_adds_pods_within_a_minute_and_a_dip_does_not_flap(shipped: Manifests) -> None:
    behavior = one(shipped, "HorizontalPodAutoscaler", "web").get("spec.behavior")
    up, down = behavior["scaleUp"], behavior["scaleDown"]

    assert (
        up["stabilizationWindowSeconds"] == 0,
        max(p["periodSeconds"] for p in up["policies"]) <= 60,
        down["stabilizationWindowSeconds"] >= 300,
    ) == (True, True, True)


def test_keda_and_the_hpa_are_the_same_policy(shipped: Manifests) -> None:
    hpa = one(shipped, "HorizontalPodAutoscaler", "web")
    keda = one(read(KUBERNETES_DIR, "keda"), "ScaledObject", "web")
    triggers = {t["type"]: t for t in keda.get("spec.triggers")}
    targets = {m["type"]: m for m in hpa.get("spec.metrics")}

    assert (
        keda.get("spec.scaleTargetRef.name"),
        keda.get("spec.minReplicaCount"),
        keda.get("spec.maxReplicaCount"),
        keda.get("spec.advanced.horizontalPodAutoscalerConfig.behavior"),
        int(triggers["cpu"]["metadata"]["value"]),
        triggers["prometheus"]["metadata"]["threshold"],
        adapter_rule()["seriesQuery"].split("{")[0] in triggers["prometheus"]["metadata"]["query"],
    ) == (
        hpa.get("spec.scaleTargetRef.name"),
        hpa.get("spec.minReplicas"),
        hpa.get("spec.maxReplicas"),
        hpa.get("spec.behavior"),
        targets["Resource"]["resource"]["target"]["averageUtilization"],
        targets["Pods"]["pods"]["target"]["averageValue"],
        True,
    )


# -- network policies -----------------------------------------------------------------------


def _admits(policy: dict[str, Any], namespace: str, app: str, port: str | int) -> bool:
    for rule in policy["spec"].get("ingress", []):
        sources = rule.get("from", [])
        ports = [p["port"] for p in rule.get("ports", [])]
        for source in sources:
            ns = source.get("namespaceSelector", {}).get("matchLabels", {})
            pods = source.get("podSelector", {}).get("matchLabels", {})
            if (
                ns.get("kubernetes.io/metadata.name") == namespace
                and pods.get("app.kubernetes.io/name") == app
                and (not ports or port in ports)
            ):
                return True
    return False


@pytest.mark.parametrize(
    ("namespace", "app", "port"),
    [
        ("ingress-nginx", "ingress-nginx", "http"),
        ("monitoring", "alertmanager", "http"),
        ("monitoring", "prometheus", "http"),
    ],
)
def test_web_admits(shipped: Manifests, namespace: str, app: str, port: str) -> None:
    policy = one(shipped, "NetworkPolicy", "web-ingress").body

    assert _admits(policy, namespace, app, port)


def test_web_admits_no_one_else(shipped: Manifests) -> None:
    policy = one(shipped, "NetworkPolicy", "web-ingress").body
    sources = {
        source["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in policy["spec"]["ingress"]
        for source in rule["from"]
    }

    assert sources == {"ingress-nginx", "alertmanager", "prometheus"}


def test_web_reaches_only_dns_the_database_and_the_cache(shipped: Manifests) -> None:
    policy = one(shipped, "NetworkPolicy", "web-egress").body
    ports = sorted({p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]})

    assert (ports, all(rule.get("to") for rule in policy["spec"]["egress"])) == (
        [53, 5432, 6379],
        True,
    )


def test_everything_else_is_denied(shipped: Manifests) -> None:
    policy = one(shipped, "NetworkPolicy", "default-deny").get("spec")

    assert (policy["podSelector"], sorted(policy["policyTypes"])) == ({}, ["Egress", "Ingress"])


# -- the shared cache (cache.yaml) -----------------------------------------------------


def pod_labels(manifests: Manifests, kind: str, name: str) -> dict[str, str]:
    template = "spec.jobTemplate.spec.template" if kind == "CronJob" else "spec.template"
    return one(manifests, kind, name).get(f"{template}.metadata.labels")


def test_the_cache_url_names_a_service_of_the_manifests(shipped: Manifests) -> None:
    url = urlsplit(pod_environment(shipped)["CACHE_URL"])
    service = one(shipped, "Service", str(url.hostname))

    assert url.port in [port["port"] for port in service.get("spec.ports")]


def test_only_our_own_workloads_reach_the_cache(shipped: Manifests) -> None:
    policy = one(shipped, "NetworkPolicy", "cache-ingress")
    cache = pod_labels(shipped, "Deployment", "cache")
    sources = [
        source["podSelector"] for rule in policy.get("spec.ingress") for source in rule["from"]
    ]
    admitted = {
        (kind, name)
        for kind, name in [
            ("Deployment", "web"),
            ("Job", "migrate"),
            ("CronJob", "release-holds"),
            ("Deployment", "cache"),
        ]
        if any(labels_match(source, pod_labels(shipped, kind, name)) for source in sources)
    }

    assert (labels_match(policy.get("spec.podSelector"), cache), admitted) == (
        True,
        {("Deployment", "web"), ("Job", "migrate"), ("CronJob", "release-holds")},
    )


def test_web_may_leave_for_the_cache_pods(shipped: Manifests) -> None:
    policy = one(shipped, "NetworkPolicy", "web-egress")
    cache = pod_labels(shipped, "Deployment", "cache")

    assert any(
        labels_match(target.get("podSelector", {"matchLabels": {"-": "-"}}), cache)
        and [port["port"] for port in rule["ports"]] == [6379]
        for rule in policy.get("spec.egress")
        for target in rule["to"]
    )


# -- the release-holds CronJob (release-holds.yaml) ------------------------------------


def test_expired_holds_are_released_every_minute_with_the_release_image(
    shipped: Manifests,
) -> None:
    cronjob = one(shipped, "CronJob", "release-holds")
    [(_, container)] = containers(cronjob)

    assert (cronjob.get("spec.schedule"), container["command"], container["image"]) == (
        "* * * * *",
        ["python", "manage.py", "release_expired_holds"],
        web_container(shipped)["image"],
    )


def test_the_cronjob_runs_exactly_when_orders_await_payment(shipped: Manifests) -> None:
    """Suspended with holds on, unpaid orders would keep their stock for good."""
    cronjob = one(shipped, "CronJob", "release-holds")
    config = one(shipped, "ConfigMap", "widgetworld").get("data")
    holds = config.get("ORDER_AWAIT_PAYMENT", "false").lower() in ("true", "1", "yes", "on")

    assert cronjob.get("spec.suspend", False) is not holds


def test_the_cronjob_never_runs_twice_at_once_nor_retries_into_the_next_minute(
    shipped: Manifests,
) -> None:
    cronjob = one(shipped, "CronJob", "release-holds")

    assert (
        cronjob.get("spec.concurrencyPolicy"),
        cronjob.get("spec.jobTemplate.spec.backoffLimit"),
        cronjob.get("spec.jobTemplate.spec.activeDeadlineSeconds") < 60,
    ) == ("Forbid", 0, True)


@pytest.mark.parametrize(
    ("kind", "name"), [("Deployment", "web"), ("Job", "migrate"), ("CronJob", "release-holds")]
)
def test_every_workload_that_uses_the_database_may_leave_for_it(
    shipped: Manifests, kind: str, name: str
) -> None:
    """web-egress is the policy that lets pods reach PostgreSQL (port 5432)."""
    policy = one(shipped, "NetworkPolicy", "web-egress")

    assert labels_match(policy.get("spec.podSelector"), pod_labels(shipped, kind, name))
