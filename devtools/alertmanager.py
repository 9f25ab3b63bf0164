"""Debian's Alertmanager for the tests and the drill: our real routing, pointed at a local app.

`local_config` is `deploy/prometheus/alertmanager.yml` with the status
page's webhook aimed at a WidgetWorld on loopback and its token read from a
file of ours; `fast=True` also shortens the grouping waits for the drill.
`Alertmanager` runs it on a port the server picks (read back from its log),
with gossip off, in a folder of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from devtools.servers import Process, ServerError, http_get, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
CONFIG = BASE_DIR / "deploy" / "prometheus" / "alertmanager.yml"
PROGRAMS = ("prometheus-alertmanager", "alertmanager")  # Debian's name, upstream's
# Grouping waits for the drill: notifications within a second or two.
FAST = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1m"}
LISTENING = re.compile(r'msg="Listening on" address=127\.0\.0\.1:(\d+)')


class AlertmanagerUnavailableError(ServerError):
    """prometheus-alertmanager is not installed."""


def binary() -> str:
    for program in PROGRAMS:
        if path := shutil.which(program):
            return path
    raise AlertmanagerUnavailableError(
        "prometheus-alertmanager is not installed (Debian package: prometheus-alertmanager)"
    )


def local_config(webhook_url: str, token_file: Path, *, fast: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    if fast:
        for route in [config["route"], *config["route"].get("routes", [])]:
            route.update(FAST)
    return config


class Alertmanager(Process):
    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        args = [
            binary(),
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            "--web.listen-address=127.0.0.1:0",
            "--cluster.listen-address=",
        ]
        super().__init__(args, dict(os.environ), workdir / "alertmanager.log", workdir)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_ready(self, timeout: float = 30) -> None:
        def listening() -> int:
            if not self.alive():
                raise ServerError(f"alertmanager exited:\n{self.tail()}")
            found = LISTENING.search(self.output())
            return int(found.group(1)) if found else 0

        self.port = wait_for("Alertmanager to listen", listening, timeout)
        wait_for(
            "Alertmanager to be ready",
            lambda: http_get(self.url + "/-/ready").status == 200,
            timeout,
        )

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """What Prometheus does: POST /api/v2/alerts (firing, or resolved with endsAt)."""
        request = urllib.request.Request(
            self.url + "/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 200:
                raise ServerError(f"alertmanager refused the alerts: {response.status}")

    def notifications(self, outcome: str = "total") -> int:
        """Webhook notifications sent (`total`) or `failed`, from Alertmanager's own metrics."""
        text = http_get(self.url + "/metrics").body.decode()
        name = f"alertmanager_notifications{'_failed' if outcome == 'failed' else ''}_total"
        pattern = re.compile(rf'^{name}{{[^}}]*integration="webhook"[^}}]*}} (\S+)$', re.M)
        return sum(int(float(value)) for value in pattern.findall(text))
