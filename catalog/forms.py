"""Forms for the cart and checkout; the listing filters live in catalog/listing.py."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator

from catalog.models import Order
from catalog.services.checkout import Customer

# Where we ship to; a short list rather than every ISO code, so the select stays usable.
COUNTRIES = [
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("US", "United States"),
    ("CA", "Canada"),
]


def _quantity(minimum: int) -> forms.IntegerField:
    return forms.IntegerField(
        label="Quantity",
        min_value=minimum,
        max_value=settings.CART_MAX_QUANTITY,
        error_messages={
            "invalid": "Enter a whole number.",
            "min_value": f"Enter a quantity of {minimum} or more.",
            "max_value": f"At most {settings.CART_MAX_QUANTITY} of one widget per order.",
            "required": "Enter a quantity.",
        },
    )


class AddToCartForm(forms.Form):
    widget = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    quantity = _quantity(1)


class UpdateCartForm(forms.Form):
    """A cart line's new quantity; 0 removes the line, as shoppers expect."""

    widget = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    quantity = _quantity(0)


class RemoveFromCartForm(forms.Form):
    widget = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class CheckoutForm(forms.ModelForm):
    """Contact and shipping details, plus what makes a submission idempotent.

    `idempotency_key` is minted when the form is shown and carried back by
    every submission of that form, so a double click or replay names the
    same order. `expected_total` is the total the shopper saw.
    """

    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    expected_total = forms.DecimalField(
        widget=forms.HiddenInput, max_digits=12, decimal_places=2, required=False
    )
    country = forms.ChoiceField(choices=COUNTRIES, initial="GB")
    phone = forms.CharField(
        label="Phone (optional, for the courier)",
        required=False,
        max_length=32,
        validators=[
            RegexValidator(r"^\+?[0-9 ()-]{6,}$", "Enter a phone number, such as +44 20 7946 0000.")
        ],
    )

    class Meta:
        model = Order
        fields = (
            "full_name",
            "email",
            "phone",
            "address_line1",
            "address_line2",
            "city",
            "postcode",
            "country",
        )
        widgets: ClassVar[dict[str, forms.Widget]] = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
        }

    @classmethod
    def fresh(cls, expected_total: object) -> CheckoutForm:
        return cls(initial={"idempotency_key": uuid.uuid4(), "expected_total": expected_total})

    def customer(self) -> Customer:
        data = self.cleaned_data
        return Customer(
            full_name=data["full_name"],
            email=data["email"],
            phone=data["phone"],
            address_line1=data["address_line1"],
            address_line2=data["address_line2"],
            city=data["city"],
            postcode=data["postcode"].upper(),
            country=data["country"],
        )
