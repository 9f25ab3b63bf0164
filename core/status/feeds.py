"""`/status/incidents.atom`: incidents and their updates, newest first (Django's syndication)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape, linebreaks

from core.status import snapshot
from core.status.state import store


class IncidentFeed(Feed):
    feed_type = Atom1Feed
    title = "WidgetWorld status: incidents"
    subtitle = "Disruptions to the WidgetWorld shop and what we are doing about them."
    link = "/status/"

    def get_object(self, request: HttpRequest, *args: Any, **kwargs: Any) -> snapshot.Snapshot:
        return snapshot.build(store.read(), time.time())

    def items(self, obj: snapshot.Snapshot) -> tuple[dict[str, Any], ...]:
        return obj.incidents

    def item_title(self, item: dict[str, Any]) -> str:
        state = "Resolved" if item["status"] == snapshot.RESOLVED else item["status"].title()
        return f"{item['name']} ({state})"

    def item_description(self, item: dict[str, Any]) -> str:
        return "".join(
            f"<p><strong>{escape(u['status'].title())}</strong> "
            f"({snapshot.moment(u['display_at']):%d %b %Y %H:%M} UTC)</p>"
            + linebreaks(u["body"], autoescape=True)
            for u in item["updates"]
        )

    def item_link(self, item: dict[str, Any]) -> str:
        return f"/status/incidents/{item['id']}/"

    def item_guid(self, item: dict[str, Any]) -> str:
        return f"widgetworld-incident-{item['id']}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: dict[str, Any]) -> datetime | None:
        return snapshot.moment(item["created_at"])

    def item_updateddate(self, item: dict[str, Any]) -> datetime | None:
        return snapshot.moment(item["updated_at"])
