"""Epoch seconds (how the shared status document keeps time) as readable dates."""

from __future__ import annotations

from django import template

from core.status.snapshot import moment

register = template.Library()


@register.filter
def epoch_iso(value: float | None) -> str:
    when = moment(value)
    return when.isoformat(timespec="seconds") if when else ""


@register.filter
def epoch_human(value: float | None) -> str:
    when = moment(value)
    return f"{when:%-d %b %Y, %H:%M} UTC" if when else ""
