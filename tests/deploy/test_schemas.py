"""Every object in deploy/kubernetes against the Kubernetes API's own schemas, offline.

kubernetes-validate ships the OpenAPI schemas of each Kubernetes release;
strict mode also refuses fields the API does not know (a misspelt key would
otherwise be dropped by the API server without a word). The custom resources
(Prometheus Operator, KEDA) have no schema there: what matters in them is
checked in test_manifests.py, and any other kind without a schema fails here.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from devtools.manifests import KUBERNETES_DIR, display

# The oldest Kubernetes release these manifests support; upstream still
# maintains it. Features used: autoscaling/v2 behavior, preStop `sleep`
# (beta and on by default since 1.30), PDB unhealthyPodEvictionPolicy (1.27).
KUBERNETES_VERSION = "1.33"
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}
# Files that are configuration for another program, not Kubernetes objects.
NOT_OBJECTS = {KUBERNETES_DIR / "prometheus-adapter" / "rules.yaml"}


def objects() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES_DIR.rglob("*.yaml")):
        if path in NOT_OBJECTS:
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append(
                    (f"{display(path)}: {document.get('kind')}/{_name(document)}", document)
                )
    return found


def _name(document: dict[str, Any]) -> str:
    return str(document.get("metadata", {}).get("name"))


def validate(document: dict[str, Any]) -> str | None:
    """None when valid; otherwise the field and what is wrong with it, in one line."""
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{'.'.join(str(part) for part in error.path)}: {error.message}"
    return None


@pytest.mark.parametrize(
    ("where", "document"),
    [o for o in objects() if (o[1]["apiVersion"], o[1]["kind"]) not in CUSTOM_RESOURCES],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_object_is_valid_for_the_pinned_kubernetes(where: str, document: dict) -> None:
    assert validate(document) is None, f"{where}: {validate(document)}"


def test_only_the_known_custom_resources_go_without_a_schema() -> None:
    without_schema = set()
    for _, document in objects():
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            without_schema.add((document["apiVersion"], document["kind"]))

    assert without_schema == CUSTOM_RESOURCES


def test_every_file_is_objects_or_a_known_exception() -> None:
    for path in NOT_OBJECTS:
        assert "kind" not in (yaml.safe_load(path.read_text()) or {}), display(path)


def test_a_misspelt_field_is_refused() -> None:
    deployment = yaml.safe_load((KUBERNETES_DIR / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}

    assert "readinesProbe" in str(validate(deployment))
