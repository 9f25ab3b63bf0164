"""The catalog of the WidgetWorld under test, read from its JSON API when a run starts.

The suites must run against any WidgetWorld (this machine's, staging, a
compose stack), so nothing about the catalog is written into them: category
paths, product slugs, filter values, prices and search vocabulary all come
from `/api/categories/` and a few pages of `/api/widgets/`. Search terms are
made from the words of real product names, a fifth of them misspelled the way
people type, plus SKUs and words the shop does not sell, because shoppers
search for those too (and they take the typo fallback, the dearest search).

Only the standard library and `requests` (which Locust brings): the official
Locust image runs this file as it is.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import requests

# Pages of 100 widgets read at the start; enough variety, a second or two.
PAGES = 5
ATTEMPTS = 5
TIMEOUT = 10
# Things people look for that a widget shop does not sell.
NOT_SOLD = ("unicorn", "flux capacitor", "socks", "phone charger", "lawnmower", "teapot")
SORTS = ("price", "-price", "newest", "name")
FILTERS = ("colour", "size", "material", "price", "in_stock", "sort")
# The key to the right on a QWERTY keyboard (to the left at the end of a row).
KEYBOARD = {
    key: row[i + 1] if i + 1 < len(row) else row[i - 1]
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, key in enumerate(row)
}


class CatalogError(RuntimeError):
    """The catalog could not be read: the suite cannot start, said in one line."""


@dataclass(frozen=True)
class Product:
    path: str
    sku: str
    name: str
    in_stock: bool


@dataclass(frozen=True)
class Catalog:
    categories: tuple[str, ...]  # listing paths, /c/<path>/
    products: tuple[Product, ...]
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    materials: tuple[str, ...]
    prices: tuple[Decimal, ...]
    words: tuple[str, ...]  # from product names, lower case, for search terms

    @cached_property
    def in_stock(self) -> tuple[Product, ...]:
        return tuple(product for product in self.products if product.in_stock)

    def listing_filters(self, rng: random.Random) -> dict[str, str | list[str]]:
        """Filters as a shopper ticks them: none half the time, else one to three."""
        filters: dict[str, str | list[str]] = {}
        if rng.random() < 0.5:
            return filters
        for kind in rng.sample(FILTERS, k=rng.randint(1, 3)):
            if kind == "colour":
                filters["colour"] = rng.sample(
                    self.colours, k=min(len(self.colours), rng.randint(1, 2))
                )
            elif kind in ("size", "material"):
                filters[kind] = [rng.choice(self.sizes if kind == "size" else self.materials)]
            elif kind == "price":
                low, high = sorted(rng.choices(self.prices, k=2))
                filters.update(min_price=str(int(low)), max_price=str(int(high) + 1))
            elif kind == "in_stock":
                filters["in_stock"] = "on"
            else:
                filters["sort"] = rng.choice(SORTS)
        return filters

    def search_term(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.30:
            return rng.choice(self.words)
        if roll < 0.55:
            return " ".join(rng.sample(self.words, k=2))
        if roll < 0.75:
            return misspell(rng.choice([w for w in self.words if len(w) >= 5] or self.words), rng)
        if roll < 0.82:
            return rng.choice(self.products).name.lower()
        if roll < 0.88:
            return rng.choice(self.products).sku.lower()
        if roll < 0.94:
            first, second, excluded = rng.sample(self.words, k=3)
            return f'"{first} {second}" -{excluded}'
        return rng.choice(NOT_SOLD)


def misspell(word: str, rng: random.Random) -> str:
    """One slip of the kind people make: two letters swapped, one dropped, doubled or mistyped.

    The first letter is kept (people rarely get it wrong, and trigram
    similarity leans on it), and the result always differs from `word`.
    """
    if len(word) < 3:
        return word + word[-1]
    for _ in range(10):
        i = rng.randrange(1, len(word) - 1)
        slip = rng.choice(("swap", "drop", "double", "neighbour"))
        if slip == "swap":
            typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif slip == "drop":
            typo = word[:i] + word[i + 1 :]
        elif slip == "double":
            typo = word[:i] + word[i] + word[i:]
        else:
            typo = word[:i] + KEYBOARD.get(word[i], word[i]) + word[i + 1 :]
        if typo != word:
            return typo
    return word + word[-1]


def fetch(host: str, rng: random.Random | None = None) -> Catalog:
    """Read the catalog of the shop at `host` (http://127.0.0.1:8000) from its JSON API."""
    rng = rng or random.Random()
    with requests.Session() as session:
        session.headers["Accept"] = "application/json"
        categories = _get(session, host, "/api/categories/")["results"]
        first = _get(session, host, _widgets_page(1))
        last_page = max(1, -(-first["count"] // 100))
        others = rng.sample(range(2, last_page + 1), k=min(PAGES - 1, last_page - 1))
        widgets = list(first["results"])
        for page in others:
            widgets += _get(session, host, _widgets_page(page))["results"]
    if not categories or not widgets:
        raise CatalogError(f"{host} has an empty catalog: seed it first (manage.py seed_catalog)")
    words = sorted({w.lower() for item in widgets for w in item["name"].split() if len(w) >= 3})
    return Catalog(
        categories=tuple(f"/c/{category['path']}/" for category in categories),
        products=tuple(
            Product(f"/widgets/{w['slug']}/", w["sku"], w["name"], bool(w["in_stock"]))
            for w in widgets
        ),
        colours=tuple(sorted({w["colour"] for w in widgets})),
        sizes=tuple(sorted({w["size"] for w in widgets})),
        materials=tuple(sorted({w["material"] for w in widgets})),
        prices=tuple(sorted({Decimal(w["price"]) for w in widgets})),
        words=tuple(words),
    )


def _widgets_page(page: int) -> str:
    # Newest first mixes the whole catalog (the default puts what is in stock first).
    return "/api/widgets/?" + urlencode({"page_size": 100, "sort": "newest", "page": page})


def _get(session: requests.Session, host: str, path: str) -> dict[str, Any]:
    """GET JSON, waiting as told when the shop sheds load (503 + Retry-After) at the start."""
    url = host.rstrip("/") + path
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = session.get(url, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise CatalogError(f"cannot read {url}: {error}") from None
        if response.status_code == 503 and attempt < ATTEMPTS:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        if response.status_code != 200:
            raise CatalogError(f"{url} answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise CatalogError(f"{url} did not answer JSON: is this WidgetWorld?") from None
    raise CatalogError(f"{url} stayed busy after {ATTEMPTS} attempts")
