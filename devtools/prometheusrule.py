"""deploy/kubernetes/prometheusrule.yaml, generated from deploy/prometheus/alerts.yml.

    python -m devtools.prometheusrule           # rewrite it (make manifests)
    python -m devtools.prometheusrule --check   # exit 1 when it is out of step

alerts.yml stays the one source of truth: promtool checks and unit-tests it,
the drill rehearses it, docker-compose's Prometheus loads it, and the
Prometheus Operator gets the same groups wrapped in a PrometheusRule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from devtools.manifests import BASE_DIR, KUBERNETES_DIR, display

ALERTS = BASE_DIR / "deploy" / "prometheus" / "alerts.yml"
TARGET = KUBERNETES_DIR / "prometheusrule.yaml"
HEADER = """\
# GENERATED from deploy/prometheus/alerts.yml by `make manifests`
# (python -m devtools.prometheusrule): edit alerts.yml, never this file;
# `make test` fails while the two differ. Per environment: the label your
# Prometheus' ruleSelector matches (`release` below).
"""


class _BlockStrings(yaml.SafeDumper):
    """Multi-line expressions as `|` blocks, as they are written in alerts.yml."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStrings.add_representer(str, _string)


def render(alerts: str) -> str:
    groups = yaml.safe_load(alerts)["groups"]
    rule: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "widgetworld",
            "namespace": "widgetworld",
            "labels": {
                "app.kubernetes.io/name": "widgetworld",
                "app.kubernetes.io/part-of": "widgetworld",
                "release": "kube-prometheus-stack",
            },
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(rule, Dumper=_BlockStrings, sort_keys=False, width=100)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.prometheusrule", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether it is in step")
    options = parser.parse_args(argv)
    wanted = render(ALERTS.read_text())
    current = TARGET.read_text() if TARGET.exists() else ""
    if options.check:
        if current != wanted:
            sys.stderr.write(
                f"{display(TARGET)} is out of step with {display(ALERTS)}: run `make manifests`\n"
            )
            return 1
        return 0
    if current != wanted:
        Path(TARGET).write_text(wanted)
        sys.stdout.write(f"wrote {display(TARGET)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
