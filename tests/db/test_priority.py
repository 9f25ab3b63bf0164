"""Checkout POSTs go ahead of browsing: what the pool is told for each kind of request."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from core.db.backends.postgresql.pool import AdaptivePool
from core.db.backends.postgresql.priority import Priority, is_urgent
from core.http.priority import urgent_for

# Outside a test transaction, so that each query checks a connection out.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def priorities(monkeypatch: pytest.MonkeyPatch) -> list[Priority]:
    """The priority of every checkout from now on."""
    seen: list[Priority] = []
    real = AdaptivePool.getconn

    def spy(self: AdaptivePool, timeout: float | None = None, priority: Any = Priority.NEW) -> Any:
        seen.append(priority)
        return real(self, timeout, priority)

    monkeypatch.setattr(AdaptivePool, "getconn", spy)
    return seen


@urgent_for("POST")
def view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("urgent" if is_urgent() else "browsing")


def test_only_the_chosen_methods_are_urgent(rf: RequestFactory) -> None:
    answers = [view(rf.post("/")).content, view(rf.get("/")).content]

    assert answers == [b"urgent", b"browsing"]


def test_a_checkout_post_asks_for_connections_as_urgent(
    client: Client, priorities: list[Priority]
) -> None:
    client.post("/checkout/", {})

    assert set(priorities) == {Priority.URGENT}


def test_browsing_asks_as_new_then_as_continuing(
    client: Client, priorities: list[Priority]
) -> None:
    client.get("/widgets/")

    assert (priorities[0], set(priorities[1:])) == (Priority.NEW, {Priority.CONTINUING})
