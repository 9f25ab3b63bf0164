"""The shipped manifests, and copies of them to break on purpose."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.manifests import KUBERNETES_DIR, Manifests

# Every folder of deploy/kubernetes that holds Kubernetes objects.
FOLDERS = ("", "migrate", "pgbouncer", "keda")
Edit = Callable[[str, str, Callable[[dict[str, Any]], object]], Path]


def read(root: Path, *folders: str) -> Manifests:
    return Manifests.read([root / folder for folder in folders])


@pytest.fixture(scope="session")
def shipped() -> Manifests:
    """What `kubectl apply` gets: the web tier, its migration Job and the optional PgBouncer."""
    return read(KUBERNETES_DIR, "", "migrate", "pgbouncer")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """deploy/kubernetes, copied where a test may break it."""
    target = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES_DIR, target)
    return target


@pytest.fixture
def edit(copy: Path) -> Edit:
    """Change one object of the copy: edit("hpa.yaml", "HorizontalPodAutoscaler", change)."""

    def apply(file: str, kind: str, change: Callable[[dict[str, Any]], object]) -> Path:
        path = copy / file
        documents = list(yaml.safe_load_all(path.read_text()))
        for document in documents:
            if document and document.get("kind") == kind:
                change(document)
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        return path

    return apply
