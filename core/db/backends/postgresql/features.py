"""Django's PostgreSQL features, plus what a pool that is on by default changes for its tests."""

from typing import Any

from django.db.backends.postgresql import features
from django.utils.functional import cached_property


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:
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
