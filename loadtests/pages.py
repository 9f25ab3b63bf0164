"""What a shopper reads off our pages: product links, the next page, a form's hidden fields.

Regular expressions over our own templates rather than an HTML parser: the
load generator shares the machine with the shop, and a parse costs it more
than the request. tests/loadtests/test_pages.py runs these against pages the
real templates render, so a template change that breaks them fails there,
not in the middle of a release run.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

_ATTRIBUTE = re.compile(r'([a-zA-Z_:-]+)="([^"]*)"')
_LINK = re.compile(r"<a\b([^>]*)>", re.IGNORECASE)
_INPUT = re.compile(r"<input\b([^>]*)>", re.IGNORECASE)
_PRODUCT_PATH = re.compile(r"^/widgets/[-\w]+/$")


def _attributes(tag: str) -> dict[str, str]:
    return {name.lower(): html.unescape(value) for name, value in _ATTRIBUTE.findall(tag)}


def product_links(page: str) -> list[str]:
    """Paths of the product pages a page links to (cards, related widgets), in page order."""
    links = (_attributes(tag).get("href", "") for tag in _LINK.findall(page))
    return list(dict.fromkeys(link for link in links if _PRODUCT_PATH.match(link)))


def next_page(page: str, current: str) -> str | None:
    """The `rel="next"` link of a listing, as a path; None on the last page."""
    for tag in _LINK.findall(page):
        attributes = _attributes(tag)
        if attributes.get("rel") == "next" and "href" in attributes:
            return urljoin(current, attributes["href"])
    return None


def form_fields(page: str, action: str) -> dict[str, str] | None:
    """Hidden fields (CSRF token included) of the form that posts to `action`; None if absent."""
    match = re.search(
        rf'<form\b[^>]*\baction="{re.escape(action)}"[^>]*>(.*?)</form>',
        page,
        re.IGNORECASE | re.DOTALL,
    )
    if match is None:
        return None
    fields = {}
    for tag in _INPUT.findall(match.group(1)):
        attributes = _attributes(tag)
        if attributes.get("type") == "hidden" and "name" in attributes:
            fields[attributes["name"]] = attributes.get("value", "")
    return fields
