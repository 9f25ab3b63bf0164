"""deploy/kubernetes, read as the cluster would: objects, their fields, the environment pods get.

The capacity check and the tests read the same manifests the same way, and
both say what is wrong in one line naming the file, the object and the field:

    deploy/kubernetes/hpa.yaml: HorizontalPodAutoscaler/web spec.scaleTargetRef.name: ...

`problems()` lists what the API schemas cannot see (kubernetes-validate checks
the schemas): probes, resources, the restricted security context, the drain,
the autoscaler's target and the labels that tie objects together.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
KUBERNETES_DIR = BASE_DIR / "deploy" / "kubernetes"
GUNICORN_CONF = BASE_DIR / "widgetworld" / "gunicorn.conf.py"
# `$(NAME)` in an env value is replaced by an earlier variable, as the kubelet does.
REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


class ManifestError(Exception):
    """A manifest that cannot be read or makes no sense: one line naming file and field."""


def display(path: Path) -> str:
    """The path as a person at the repository's root would type it."""
    try:
        return str(path.resolve().relative_to(BASE_DIR))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Manifest:
    """One object of one YAML file."""

    path: Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name", "?"))

    @property
    def namespace(self) -> str:
        return str(self.body.get("metadata", {}).get("namespace", "default"))

    def where(self, field: str) -> str:
        return f"{display(self.path)}: {self.kind}/{self.name} {field}"

    def error(self, field: str, why: str) -> ManifestError:
        return ManifestError(f"{self.where(field)}: {why}")

    def get(self, field: str, default: Any = None) -> Any:
        """A dotted field (`spec.template.spec`), or `default` when any part is missing."""
        value: Any = self.body
        for part in field.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return default
            value = value[part]
        return value

    def require(self, field: str) -> Any:
        value = self.get(field)
        if value is None:
            raise self.error(field, "missing")
        return value

    def integer(self, field: str, default: int | None = None) -> int:
        value = self.get(field, default)
        if value is None:
            raise self.error(field, "missing")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, f"expected a whole number, not {value!r}")
        return value


def _yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        elif path.is_file():
            yield path
        else:
            raise ManifestError(f"{display(path)}: no such file or directory")


def load(paths: Iterable[Path]) -> list[Manifest]:
    """Every Kubernetes object in `paths` (files, or folders' *.yaml, not their subfolders)."""
    manifests = []
    for path in _yaml_files(paths):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(f"{display(path)}: cannot be read: {error}") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise ManifestError(f"{display(path)}: not valid YAML{at}: {problem}") from None
        for number, document in enumerate(documents, 1):
            if document is None:
                continue
            if not isinstance(document, dict) or "kind" not in document:
                raise ManifestError(
                    f"{display(path)}: document {number} is not a Kubernetes object (no kind)"
                )
            manifests.append(Manifest(path, document))
    return manifests


class Manifests:
    """A set of objects and the questions the checks ask of them."""

    def __init__(self, items: list[Manifest]) -> None:
        self.items = items

    @classmethod
    def read(cls, paths: Iterable[Path]) -> Manifests:
        return cls(load(paths))

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [item for item in self.items if item.kind in kinds]

    def find(self, kind: str, name: str, namespace: str) -> Manifest | None:
        for item in self.of_kind(kind):
            if item.name == name and item.namespace == namespace:
                return item
        return None

    def scalers_of(self, deployment: Manifest) -> list[Manifest]:
        """HorizontalPodAutoscalers and KEDA ScaledObjects whose target is `deployment`."""
        return [
            scaler
            for scaler in self.of_kind("HorizontalPodAutoscaler", "ScaledObject")
            if scaler.namespace == deployment.namespace
            and scaler.get("spec.scaleTargetRef.name") == deployment.name
            and scaler.get("spec.scaleTargetRef.kind", "Deployment") == "Deployment"
        ]

    def environment(self, workload: Manifest, container: Mapping[str, Any]) -> dict[str, str]:
        """The variables a container gets from its ConfigMaps and literal values.

        Secrets and pod fields are not in the repository: they are left out
        and stay `$(NAME)` where another value refers to them.
        """
        variables: dict[str, str] = {}
        for source in container.get("envFrom", []):
            reference = source.get("configMapRef")
            if reference:
                variables.update(self._config_map(workload, reference["name"]))
        for entry in container.get("env", []):
            name = entry["name"]
            if "value" in entry:
                variables[name] = REFERENCE.sub(
                    lambda match: variables.get(match.group(1), match.group(0)),
                    str(entry["value"]),
                )
                continue
            key = entry.get("valueFrom", {}).get("configMapKeyRef")
            if key:
                data = self._config_map(workload, key["name"])
                if key["key"] in data:
                    variables[name] = data[key["key"]]
        return variables

    def _config_map(self, workload: Manifest, name: str) -> dict[str, str]:
        config = self.find("ConfigMap", name, workload.namespace)
        if config is None:
            raise workload.error("envFrom", f"ConfigMap {name!r} is not among the manifests read")
        return {str(k): str(v) for k, v in (config.get("data") or {}).items()}


def containers(workload: Manifest) -> list[tuple[str, dict[str, Any]]]:
    """(field path, container) for every container and init container of a pod template."""
    spec = pod_spec(workload)
    found = []
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group, [])):
            found.append((f"{_pod_spec_path(workload)}.{group}[{index}]", container))
    return found


def pod_spec(workload: Manifest) -> dict[str, Any]:
    return workload.get(_pod_spec_path(workload), {}) or {}


def _pod_spec_path(workload: Manifest) -> str:
    return {"Pod": "spec", "CronJob": "spec.jobTemplate.spec.template.spec"}.get(
        workload.kind, "spec.template.spec"
    )


def scaled(value: int | str, replicas: int, *, round_up: bool, field: str, of: Manifest) -> int:
    """An int-or-percent (`maxSurge: 25%`) in pods, rounded as the Deployment controller does."""
    if isinstance(value, bool):
        raise of.error(field, f"expected a number or a percentage, not {value!r}")
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)%", str(value).strip())
    if not match:
        raise of.error(field, f"expected a number or a percentage, not {value!r}")
    exact = int(match.group(1)) * replicas / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def gunicorn_graceful_timeout(path: Path = GUNICORN_CONF) -> int:
    """`graceful_timeout` as gunicorn.conf.py sets it, read without running the file."""
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "graceful_timeout" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):
            return node.value.value
    raise ManifestError(f"{display(path)}: no literal graceful_timeout")


# -- what the schemas cannot check ---------------------------------------------------


def problems(manifests: Manifests) -> list[str]:
    """Every problem found, each one line naming the file, the object and the field."""
    found: list[str] = []
    for workload in manifests.of_kind("Deployment", "Job", "CronJob"):
        found += _workload_problems(workload)
    for deployment in manifests.of_kind("Deployment"):
        found += _deployment_problems(manifests, deployment)
    for scaler in manifests.of_kind("HorizontalPodAutoscaler", "ScaledObject"):
        found += _scaler_problems(manifests, scaler)
    for selecting in manifests.of_kind("Service", "PodDisruptionBudget"):
        found += _selector_problems(manifests, selecting)
    return found


def labels_match(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Equality selectors and the In/NotIn/Exists/DoesNotExist expressions."""
    wanted = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(key) != value for key, value in (wanted or {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, values = expression["key"], expression.get("values", [])
        holds = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[expression["operator"]]
        if not holds:
            return False
    return True


def _workload_problems(workload: Manifest) -> list[str]:
    found = []
    spec = pod_spec(workload)
    pod_security = spec.get("securityContext", {})
    field = f"{_pod_spec_path(workload)}.securityContext"
    if pod_security.get("runAsNonRoot") is not True:
        found.append(f"{workload.where(field + '.runAsNonRoot')}: must be true")
    if pod_security.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        found.append(f"{workload.where(field + '.seccompProfile.type')}: must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        found.append(
            f"{workload.where(_pod_spec_path(workload) + '.automountServiceAccountToken')}: "
            "must be false (nothing here talks to the Kubernetes API)"
        )
    mounted_volumes = {volume["name"] for volume in spec.get("volumes", [])}
    for path, container in containers(workload):
        security = container.get("securityContext", {})
        expected = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        }
        for key, value in expected.items():
            if security.get(key) is not value:
                found.append(f"{workload.where(f'{path}.securityContext.{key}')}: must be {value}")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            found.append(
                f"{workload.where(f'{path}.securityContext.capabilities.drop')}: must be [ALL]"
            )
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    found.append(
                        f"{workload.where(f'{path}.resources.{kind}.{resource}')}: missing"
                    )
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in mounted_volumes:
                where = workload.where(f"{path}.volumeMounts")
                found.append(f"{where}: volume {mount['name']!r} is not defined")
    return found


def _deployment_problems(manifests: Manifests, deployment: Manifest) -> list[str]:
    found = []
    selector = deployment.get("spec.selector", {})
    labels = deployment.get("spec.template.metadata.labels", {}) or {}
    if not labels_match(selector, labels):
        where = deployment.where("spec.selector")
        found.append(f"{where}: does not match the pod template's labels {labels}")
    if manifests.scalers_of(deployment) and deployment.get("spec.replicas") is not None:
        found.append(
            f"{deployment.where('spec.replicas')}: set while an autoscaler owns it; "
            "every `kubectl apply` would reset the autoscaler's choice"
        )
    grace = deployment.get("spec.template.spec.terminationGracePeriodSeconds", 30)
    for path, container in containers(deployment):
        if path.split(".")[-1].startswith("initContainers"):
            continue
        ports = {port.get("name") for port in container.get("ports", [])} | {
            port.get("containerPort") for port in container.get("ports", [])
        }
        for probe in PROBES:
            definition = container.get(probe)
            if not definition:
                found.append(f"{deployment.where(f'{path}.{probe}')}: missing")
                continue
            action = definition.get("httpGet") or definition.get("tcpSocket") or {}
            if action.get("port") not in ports:
                found.append(
                    f"{deployment.where(f'{path}.{probe}.port')}: {action.get('port')!r} "
                    "is not a port of this container"
                )
        pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        if pause is None:
            found.append(
                f"{deployment.where(f'{path}.lifecycle.preStop.sleep.seconds')}: missing; "
                "without a pause, requests routed here while endpoints catch up are refused"
            )
            continue
        if _serves_gunicorn(container):
            drain = pause + gunicorn_graceful_timeout()
            if grace <= drain:
                found.append(
                    f"{deployment.where('spec.template.spec.terminationGracePeriodSeconds')}: "
                    f"{grace} s does not exceed preStop {pause} s + gunicorn's graceful_timeout "
                    f"{drain - pause} s: requests still running would be killed"
                )
    return found


def _serves_gunicorn(container: Mapping[str, Any]) -> bool:
    """Our image's default command is gunicorn; a container that sets its own is something else."""
    return "command" not in container or "gunicorn" in " ".join(container["command"])


def _scaler_problems(manifests: Manifests, scaler: Manifest) -> list[str]:
    target = scaler.get("spec.scaleTargetRef", {}) or {}
    kind, name = target.get("kind", "Deployment"), str(target.get("name"))
    if kind != "Deployment" or manifests.find(kind, name, scaler.namespace) is None:
        return [
            f"{scaler.where('spec.scaleTargetRef.name')}: {kind} {name!r} "
            f"is not among the manifests in namespace {scaler.namespace}"
        ]
    return []


def _selector_problems(manifests: Manifests, selecting: Manifest) -> list[str]:
    selector = selecting.get("spec.selector", {}) or {}
    pods = [
        workload
        for workload in manifests.of_kind("Deployment")
        if workload.namespace == selecting.namespace
        and labels_match(selector, workload.get("spec.template.metadata.labels", {}) or {})
    ]
    if not pods:
        return [f"{selecting.where('spec.selector')}: selects no pods of the manifests read"]
    found = []
    if selecting.kind == "Service":
        for index, port in enumerate(selecting.get("spec.ports", [])):
            target = port.get("targetPort", port.get("port"))
            declared = {
                value
                for workload in pods
                for _, container in containers(workload)
                for declared_port in container.get("ports", [])
                for value in (declared_port.get("name"), declared_port.get("containerPort"))
            }
            if target not in declared:
                found.append(
                    f"{selecting.where(f'spec.ports[{index}].targetPort')}: {target!r} "
                    "is not a port of the pods it selects"
                )
    return found
