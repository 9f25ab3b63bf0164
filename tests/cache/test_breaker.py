"""The cache's circuit breaker: open after failures in a row, one probe later, closed on success."""

from __future__ import annotations

import pytest

from core.cache import BreakerState, CircuitBreaker


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failures=3, retry_after=2.0, clock=clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure()


def test_it_opens_after_the_configured_failures_in_a_row(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    before = breaker.allow()
    fail(breaker, 1)

    assert (before, breaker.allow(), breaker.state) == (True, False, BreakerState.OPEN)


def test_a_success_starts_the_count_again(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)

    assert breaker.state is BreakerState.CLOSED


def test_after_retry_after_exactly_one_probe_goes_through(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 1.9
    too_early = breaker.allow()
    clock.now += 0.1

    assert [too_early, breaker.allow(), breaker.allow()] == [False, True, False]


def test_a_successful_probe_closes_it(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 2
    breaker.allow()
    breaker.record_success()

    assert (breaker.state, breaker.allow()) == (BreakerState.CLOSED, True)


def test_a_failed_probe_opens_it_for_another_interval(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 2
    breaker.allow()
    breaker.record_failure()
    clock.now += 1.9

    assert (breaker.state, breaker.allow()) == (BreakerState.OPEN, False)


def test_a_probe_that_never_reports_does_not_hold_it_half_open_forever(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 2
    breaker.allow()  # this probe's thread dies without a word
    clock.now += 2

    assert breaker.allow() is True


def test_every_change_is_told_once(clock: Clock) -> None:
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        failures=1,
        retry_after=1,
        clock=clock,
        on_change=lambda before, after: changes.append((before.value, after.value)),
    )
    fail(breaker, 2)
    clock.now += 1
    breaker.allow()
    breaker.record_success()
    breaker.record_success()

    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_stats_are_a_plain_dict(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 0.5

    assert breaker.stats() == {
        "state": "open",
        "consecutive_failures": 3,
        "failures_to_open": 3,
        "retry_after": 2.0,
        "seconds_until_probe": 1.5,
        "times_opened": 1,
    }


@pytest.mark.parametrize("options", [{"failures": 0}, {"retry_after": 0}])
def test_nonsense_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        CircuitBreaker(**options)  # type: ignore[arg-type]
