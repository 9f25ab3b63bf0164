"""The one load shape of the release suites: the suite named by `--suite`, tick by tick.

One shape class serves every suite (loadtests/suites.py) and picks it from
`--suite` (or `LOCUST_SUITE`), which is what a headless run, a CI job or a
compose service can set.
"""

from __future__ import annotations

import logging

from locust import LoadTestShape

from loadtests.suites import DEFAULT_SUITE, SCALE_OUT_MARK, SUITES, Suite

logger = logging.getLogger(__name__)


class ReleaseShape(LoadTestShape):
    """The suite named by `--suite`, tick by tick; logs SCALE_OUT_MARK once when it is time."""

    def __init__(self) -> None:
        super().__init__()
        self._scale_out_logged = False

    @property
    def suite(self) -> Suite:
        options = self.runner.environment.parsed_options if self.runner else None
        return SUITES[getattr(options, "suite", None) or DEFAULT_SUITE]

    def reset_time(self) -> None:
        super().reset_time()
        self._scale_out_logged = False

    def tick(self) -> tuple[int, float] | None:
        suite = self.suite
        seconds = self.get_run_time()
        if (
            suite.scale_out_at is not None
            and seconds >= suite.scale_out_at
            and not self._scale_out_logged
        ):
            self._scale_out_logged = True
            logger.warning("%s (%.0f s into %s)", SCALE_OUT_MARK, seconds, suite.name)
        return suite.at(seconds)
