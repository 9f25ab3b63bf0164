"""What a shopper does, as helpers: fill the cart, fill in the checkout form."""

from __future__ import annotations

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
