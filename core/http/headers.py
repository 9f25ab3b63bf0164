"""Response headers that are not Django's or a library's to set: images that can carry script.

An SVG is a document: opened on its own (a link, a new tab) it may run
script with our origin's cookies. Ours never contain any, but a policy of
`sandbox` with nothing allowed makes that so whatever the file says.
"""

from __future__ import annotations

from collections.abc import MutableMapping

# For every SVG we serve, static or drawn by a view.
SVG_POLICY = "default-src 'none'; sandbox"


def static_headers(headers: MutableMapping[str, str], path: str, url: str) -> None:
    """WhiteNoise's hook: static SVGs get the sandboxing policy instead of the pages' one."""
    if path.endswith(".svg"):
        headers["Content-Security-Policy"] = SVG_POLICY
