"""`{% per_request "template.html" name=value ... %}`: a fragment rendered for each shopper.

See catalog/caching/fragments.py: in a cacheable render it leaves a marker
for the fragment; rendered with a request it renders the fragment at once.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template import Context
from django.utils.safestring import SafeString, mark_safe

from catalog.caching.fragments import (
    HOLES,
    Holes,
    fragment_of,
    render_fragment,
    shopper_context,
)

register = template.Library()


@register.simple_tag(takes_context=True)
def per_request(context: Context, template_name: str, **arguments: Any) -> SafeString:
    fragment = fragment_of(template_name, arguments)
    holes = context.get(HOLES)
    if isinstance(holes, Holes):
        return mark_safe(holes.marker(fragment))
    request = getattr(context, "request", None)
    if request is not None:
        return mark_safe(render_fragment(fragment, shopper_context(request)))
    # Rendered without a request (the 503 page): from what the page's context has.
    return mark_safe(render_fragment(fragment, Context(context.flatten())))
