"""Django's PostgreSQL features, plus what a pool that is on by default changes for its tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.backends.postgresql import features
from django.utils.functional import cached_property

if TYPE_CHECKING:
    from core.db.backends.postgresql.base import DatabaseWrapper


class DatabaseFeatures(features.DatabaseFeatures):
    connection: DatabaseWrapper

    # A cached_property, as in Django's own PostgreSQL features; django-stubs
    # declares the base attribute as a plain dict.
    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:  # type: ignore[override]
        skips: dict[str, Any] = super().django_test_skips
        if self.connection.pool_options is not None:
            # Django skips these when OPTIONS["pool"] is set; here pooling is the default.
            skips.setdefault("Pool does implicit health checks", set()).update(
                {
                    "backends.base.test_base.ConnectionHealthChecksTests."
                    "test_health_checks_enabled",
                    "backends.base.test_base.ConnectionHealthChecksTests."
                    "test_set_autocommit_health_checks_enabled",
                }
            )
        return skips
