"""What a shopper does, as helpers: fill the cart, fill in the checkout form."""

from __future__ import annotations

import re
import time

import requests
from django.test import Client

from catalog.models import Widget


def add_to_cart(client: Client, widget: Widget, quantity: int = 1) -> None:
    response = client.post("/cart/add/", {"widget": widget.id, "quantity": quantity})
    assert response.status_code == 302, response.content


def checkout_details(**overrides: str) -> dict[str, str]:
    details = {
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "address_line1": "12 Analytical Row",
        "city": "London",
        "postcode": "N1 9GU",
        "country": "GB",
    }
    details.update(overrides)
    return details


def checkout_form(client: Client, **overrides: str) -> dict[str, str]:
    """What the checkout page's form would submit: details plus its hidden fields."""
    page = client.get("/checkout/")
    assert page.status_code == 200, page.content
    form = page.context["form"]
    return {
        **checkout_details(**overrides),
        "idempotency_key": str(form["idempotency_key"].value()),
        "expected_total": str(form["expected_total"].value()),
    }


# -- Against a real server (live_server, gunicorn), as a browser would --------------------


def hidden_field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return match.group(1)


def ready_to_pay(
    base_url: str, slug: str, widget_id: int
) -> tuple[requests.Session, dict[str, str]]:
    """A shopper of a real server with one widget in the cart, on the checkout page.

    The browser's session and the checkout form it would submit.
    """
    shopper = requests.Session()
    shopper.get(f"{base_url}/widgets/{slug}/", timeout=30).raise_for_status()
    token = shopper.cookies["csrftoken"]
    shopper.post(
        f"{base_url}/cart/add/",
        {"widget": widget_id, "quantity": 1, "csrfmiddlewaretoken": token},
        timeout=30,
    ).raise_for_status()
    page = shopper.get(f"{base_url}/checkout/", timeout=30)
    page.raise_for_status()
    form = {
        **checkout_details(),
        "csrfmiddlewaretoken": token,
        "idempotency_key": hidden_field(page.text, "idempotency_key"),
        "expected_total": hidden_field(page.text, "expected_total"),
    }
    return shopper, form


def pay(base_url: str, shopper: requests.Session, form: dict[str, str]) -> str:
    """Submit the form as a browser would, again after a 503's Retry-After; what it said."""
    for _ in range(50):
        answer = shopper.post(f"{base_url}/checkout/", form, allow_redirects=False, timeout=60)
        if answer.status_code != 503:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    if answer.status_code == 303 and "/checkout/done/" in answer.headers["Location"]:
        return "placed"
    if answer.status_code == 409 and "is sold out" in answer.text:
        return "sold out"
    return f"{answer.status_code} {answer.text[:200]}"
