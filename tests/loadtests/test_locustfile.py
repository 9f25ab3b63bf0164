"""The locustfile as Locust loads it, and the users as docs/load-testing.md describes them."""

from __future__ import annotations

import re
from pathlib import Path

from locust.util.load_locustfile import load_locustfile

from loadtests.gates import GROUPS
from loadtests.users import ApiClient, Shopper

BASE_DIR = Path(__file__).resolve().parents[2]
LOCUSTFILE = BASE_DIR / "loadtests" / "locustfile.py"
DOC = (BASE_DIR / "docs" / "load-testing.md").read_text()


def test_locust_finds_the_two_users_and_the_one_shape() -> None:
    users, shapes = load_locustfile(str(LOCUSTFILE))

    assert (sorted(users), [type(shape).__name__ for shape in shapes]) == (
        ["ApiClient", "Shopper"],
        ["ReleaseShape"],
    )


def test_user_weights_are_what_the_docs_say() -> None:
    documented = dict(re.findall(r"^\| `(\w+)` \| (\d+) \|", DOC, re.MULTILINE))

    assert documented == {user.__name__: str(user.weight) for user in (Shopper, ApiClient)}


def test_task_weights_are_what_the_docs_say() -> None:
    documented = {
        (user, name): int(weight)
        for user, name, weight in re.findall(r"^\| `(\w+)` \| `(\w+)` \| (\d+) \|", DOC, re.M)
    }
    actual = {
        (user.__name__, name): function.locust_task_weight
        for user in (Shopper, ApiClient)
        for name, function in vars(user).items()
        if hasattr(function, "locust_task_weight")
    }

    assert documented == actual


def test_the_documented_endpoint_groups_are_the_gated_ones() -> None:
    section = DOC.split("| Group | Requests |", 1)[1].split("\n\n", 1)[0]

    assert re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE) == list(GROUPS)
