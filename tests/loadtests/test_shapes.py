"""The suites' load over time, tick by tick, without running Locust."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from loadtests.shapes import ReleaseShape
from loadtests.suites import BASELINE_USERS, SCALE_OUT_MARK, SUITES, Suite


def users_over_time(suite: Suite) -> list[int]:
    """Users every second from the start until the suite says stop."""
    users = []
    for second in range(int(suite.duration) + 1):
        tick = suite.at(second)
        if tick is None:
            break
        users.append(tick[0])
    return users


@pytest.mark.parametrize("suite", SUITES.values(), ids=list(SUITES))
def test_every_suite_ends_by_itself(suite: Suite) -> None:
    assert (len(users_over_time(suite)), suite.at(suite.duration)) == (suite.duration, None)


def test_smoke_is_about_a_minute_of_light_load() -> None:
    smoke = SUITES["smoke"]

    assert (smoke.duration, smoke.peak_users < BASELINE_USERS) == (60, True)


@pytest.mark.parametrize("name", ["baseline", "soak"])
def test_steady_suites_hold_the_baseline_throughout(name: str) -> None:
    assert set(users_over_time(SUITES[name])) == {BASELINE_USERS}


def test_the_soak_is_long() -> None:
    assert SUITES["soak"].duration >= 3600


def test_the_spike_surges_to_ten_times_the_baseline_and_comes_back() -> None:
    users = users_over_time(SUITES["spike"])
    peak = users.index(max(users))

    assert (users[0], max(users), users[-1], peak > 0) == (
        BASELINE_USERS,
        10 * BASELINE_USERS,
        BASELINE_USERS,
        True,
    )


def test_the_surge_is_sudden() -> None:
    surge = next(stage for stage in SUITES["spike"].stages if stage.users > BASELINE_USERS)

    # From the baseline to the peak within five seconds.
    assert (surge.users - BASELINE_USERS) / surge.spawn_rate <= 5


def test_scaleout_holds_the_load_steady_well_before_and_after_processes_join() -> None:
    scaleout = SUITES["scaleout"]
    assert scaleout.scale_out_at is not None
    users = users_over_time(scaleout)
    before, after = scaleout.scale_out_at, scaleout.duration - scaleout.scale_out_at

    assert (len(set(users)), before >= 60, after >= 180) == (1, True, True)


def shape(suite: str, seconds: float) -> ReleaseShape:
    instance = ReleaseShape()
    options = SimpleNamespace(suite=suite)
    instance.runner = SimpleNamespace(environment=SimpleNamespace(parsed_options=options))  # type: ignore[assignment]
    instance.get_run_time = lambda: seconds  # type: ignore[method-assign]
    return instance


def test_the_shape_follows_the_suite_named_on_the_command_line() -> None:
    assert shape("spike", 100).tick() == SUITES["spike"].at(100)


def test_the_shape_asks_for_more_app_processes_once_when_it_is_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scaleout = shape("scaleout", 200)
    with caplog.at_level(logging.WARNING):
        scaleout.tick()
        scaleout.tick()

    assert [r.getMessage().startswith(SCALE_OUT_MARK) for r in caplog.records] == [True]
