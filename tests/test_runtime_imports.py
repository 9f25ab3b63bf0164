"""What production runs imports only what the production image installs.

The image installs `[project] dependencies` (and what they require) and
nothing else, so a runtime module importing psutil, PyYAML, Locust or pytest
works on a developer's machine and breaks in production. The check reads the
source, so an import inside a function counts as much as one at the top.
Which of our packages may import which is in pyproject.toml's import-linter
contracts.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

BASE_DIR = Path(__file__).resolve().parent.parent
RUNTIME_PACKAGES = ("core", "catalog", "widgetworld")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def applies(requirement: Requirement, extras: set[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""})


def runtime_distributions() -> set[str]:
    """pyproject's dependencies and everything they require, as installed here."""
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    pending = [Requirement(line) for line in project["dependencies"]]
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = normalized(requirement.name)
        if name in found:
            continue
        found.add(name)
        extras = set(requirement.extras)
        pending += [
            required
            for line in metadata.requires(requirement.name) or []
            if applies(required := Requirement(line), extras)
        ]
    return found


def importable_in_production() -> set[str]:
    provided = {
        module
        for module, distributions in metadata.packages_distributions().items()
        if any(normalized(d) in runtime_distributions() for d in distributions)
    }
    return provided | set(sys.stdlib_module_names) | set(RUNTIME_PACKAGES)


def imported_modules(source: Path) -> set[str]:
    """Top-level names of every absolute import in the file."""
    modules = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_runtime_packages_import_nothing_the_image_does_not_install() -> None:
    allowed = importable_in_production()
    sources = [BASE_DIR / "manage.py"]
    sources += [path for package in RUNTIME_PACKAGES for path in (BASE_DIR / package).rglob("*.py")]

    unavailable = {
        str(source.relative_to(BASE_DIR)): sorted(imported_modules(source) - allowed)
        for source in sources
        if imported_modules(source) - allowed
    }

    assert unavailable == {}
