"""Per-shopper fragments: the parts of a shared page rendered for each request.

A cached page must never carry anything of the shopper it was first rendered
for. So cacheable pages are rendered without a request (no context
processor runs: no session, cart, CSRF token or messages to leak), and every
part that belongs to one shopper is a fragment, written in a template as

    {% load per_request %}{% per_request "shell/cart_link.html" %}
    {% per_request "catalog/_add_to_cart.html" widget_id=widget.id stock=widget.stock %}

In a cacheable render the tag leaves a marker (an HTML comment carrying a
random nonce, which no catalog text can forge) and records the fragment's
template and arguments; `Holes.split()` turns the HTML into text and
`Fragment`s, which is what the cache keeps. `fill()` renders each fragment
for the request at hand, from the context processors (cart badge, messages,
CSRF token, the status and stale banners: none of them needs a query) plus
its arguments. Rendered with a request (the cart, an error page), the tag
renders its fragment at once, the same way. A page therefore looks the same
whether it came from the cache or not.

Written by hand: Django's `{% cache %}` tag caches the other way round (a
fragment inside a per-request page), and django-phased, which did this, is
unmaintained.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template import Context, engines
from django.template.backends.django import DjangoTemplates
from django.template.engine import Engine

# The context variable a cacheable render carries its `Holes` in.
HOLES = "_per_request_holes"


@dataclass(frozen=True)
class Fragment:
    """A template rendered per request, with the arguments the page gave it."""

    template: str
    arguments: tuple[tuple[str, Any], ...] = ()


Parts = tuple[str | Fragment, ...]


class Holes:
    """The fragments one cacheable render left, and the markers it left for them."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.fragments: list[Fragment] = []

    def marker(self, fragment: Fragment) -> str:
        self.fragments.append(fragment)
        return f"<!--{self.nonce}:{len(self.fragments) - 1}-->"

    def split(self, html: str) -> Parts:
        """The page as text and fragments, in order."""
        pieces = re.split(f"<!--{self.nonce}:([0-9]+)-->", html)
        parts: list[str | Fragment] = []
        for index, piece in enumerate(pieces):
            if index % 2:
                parts.append(self.fragments[int(piece)])
            elif piece:
                parts.append(piece)
        return tuple(parts)


def _engine() -> Engine:
    backend = engines["django"]
    assert isinstance(backend, DjangoTemplates)
    return backend.engine


def shopper_context(request: HttpRequest) -> Context:
    """What every fragment may use: the context processors' values for this request, once."""
    values: dict[str, Any] = {}
    for processor in _engine().template_context_processors:
        values.update(processor(request))
    return Context(values)


def render_fragment(fragment: Fragment, context: Context) -> str:
    with context.push(dict(fragment.arguments)):
        return _engine().get_template(fragment.template).render(context)


def fill(parts: Parts, request: HttpRequest) -> str:
    """The page for this request: every fragment rendered for it, in place."""
    if all(isinstance(part, str) for part in parts):
        return texts(parts)
    context = shopper_context(request)
    return "".join(
        part if isinstance(part, str) else render_fragment(part, context) for part in parts
    )


PLAIN = (str, int, float, bool, type(None))


def fragment_of(template: str, arguments: Mapping[str, Any]) -> Fragment:
    """A fragment; its arguments must be plain values, which the cache can keep as they are."""
    for name, value in arguments.items():
        values = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, PLAIN) for item in values):
            raise TypeError(
                f"{{% per_request {template!r} %}}: {name}={value!r} is not a plain value "
                "(str, int, float, bool, None, or a list of them)"
            )
    plain = {name: tuple(v) if isinstance(v, list) else v for name, v in arguments.items()}
    return Fragment(template, tuple(sorted(plain.items())))


def texts(parts: Iterable[str | Fragment]) -> str:
    """The shared text of a page, without its fragments (what every shopper is sent alike)."""
    return "".join(part for part in parts if isinstance(part, str))
