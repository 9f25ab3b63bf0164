"""Every save or delete of a widget or category moves the catalog version on, after commit.

The admin, the shell, fixtures and services all go through the ORM's
signals. Writes that send none (`bulk_update`, `bulk_create`,
`QuerySet.update()`) call `catalog_changed()` themselves (checkout,
seed_catalog); anything else is bounded by CATALOG_CACHE_FRESH.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from catalog.caching.version import catalog_changed
from catalog.models import Category, Widget

DISPATCH_UID = "catalog.caching.receivers"


def _changed(sender: type, **kwargs: Any) -> None:
    catalog_changed()


def connect() -> None:
    for model in (Widget, Category):
        for signal in (post_save, post_delete):
            signal.connect(_changed, sender=model, dispatch_uid=f"{DISPATCH_UID}.{model.__name__}")
