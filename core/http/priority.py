"""Views whose requests go first when database connections are scarce.

`@urgent_for("POST")` runs the view's POST requests inside the data layer's
`priority.urgent()`: their checkouts are served before any browsing request
that waits, and the deadline queue never sheds them (docs/data-layer.md,
"When there is no connection"). WidgetWorld marks the checkout POST, where a
shopper pays; browsing can be retried, a lost order is a lost sale.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from core.db.backends.postgresql.priority import urgent

View = Callable[..., HttpResponse]


def urgent_for(*methods: str) -> Callable[[View], View]:
    chosen = {method.upper() for method in methods}

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in chosen:
                return view(request, *args, **kwargs)
            with urgent():
                return view(request, *args, **kwargs)

        return wrapper

    return decorate
