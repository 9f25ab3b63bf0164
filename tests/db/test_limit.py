"""The learned limit in a simulation: injected query times, an injected clock, no sleeping.

`serve()` plays a server whose queries take `base` seconds until more than
`capacity` run at once, and proportionally longer beyond (a CPU-bound host),
with requests always waiting for the limit (demand beyond it).
"""

from __future__ import annotations

from collections.abc import Callable

from core.db.backends.postgresql.limit import WINDOW, ConcurrencyLimit

Latency = Callable[[int], float]


def cpu_bound(capacity: int, base: float = 0.002) -> Latency:
    return lambda concurrency: base * max(1.0, concurrency / capacity)


def io_bound(base: float = 0.002) -> Latency:
    return lambda concurrency: base


def serve(
    limit: ConcurrencyLimit,
    latency: Latency,
    windows: int,
    *,
    demand: bool = True,
    start: float = 0.0,
) -> list[int]:
    """Run `windows` windows at the current limit; the limit after each."""
    now = start
    seen = []
    for _ in range(windows):
        for _ in range(WINDOW):
            if demand:
                limit.note_demand()
            now += 0.001
            limit.record(latency(limit.effective), now)
        seen.append(limit.limit)
    return seen


def test_on_a_cpu_bound_host_the_limit_settles_near_what_the_cores_can_run() -> None:
    limit = ConcurrencyLimit(floor=1, ceiling=16)

    settled = serve(limit, cpu_bound(capacity=2), windows=200)[-50:]

    # Tolerance 1.5 on 2 "cores": three at once cost 1.5x, four 2x (backs off).
    assert set(settled) <= {3, 4}


def test_when_more_connections_cost_nothing_the_limit_grows_to_the_ceiling() -> None:
    limit = ConcurrencyLimit(floor=1, ceiling=16)
    limit.set_bounds(1, 16)
    serve(limit, cpu_bound(capacity=2), windows=100)  # learnt low first

    grown = serve(limit, io_bound(), windows=100)

    assert grown[-1] == 16


def test_without_demand_the_limit_stays_where_it_is() -> None:
    limit = ConcurrencyLimit(floor=1, ceiling=16)

    seen = serve(limit, cpu_bound(capacity=1), windows=50, demand=False)

    assert set(seen) == {16}


def test_the_limit_never_leaves_the_minimum_and_the_budget_share() -> None:
    limit = ConcurrencyLimit(floor=2, ceiling=6)
    terrible: Latency = lambda concurrency: 0.002 * concurrency**3  # noqa: E731

    seen = serve(limit, terrible, windows=100) + serve(limit, io_bound(), windows=100)

    assert (min(seen), max(seen)) == (2, 6)


def test_a_lower_budget_share_lowers_the_limit_at_once() -> None:
    limit = ConcurrencyLimit(floor=1, ceiling=16)

    limit.set_bounds(1, 5)

    assert limit.limit == 5


def test_a_workload_that_got_slower_for_good_is_learnt_at_the_next_probe() -> None:
    limit = ConcurrencyLimit(floor=1, ceiling=16, probe_interval=15.0)
    serve(limit, io_bound(0.001), windows=20)
    slower = io_bound(0.004)  # every query 4x slower, whatever the concurrency

    before_probe = serve(limit, slower, windows=5, start=1.0)
    after_probe = serve(limit, slower, windows=100, start=20.0)

    # It first reads slower queries as contention, then re-measures and recovers.
    assert (min(before_probe), after_probe[-1]) == (1, 16)


def test_the_gauge_shows_the_inputs_it_was_learnt_from() -> None:
    limit = ConcurrencyLimit(floor=1, ceiling=16)
    serve(limit, io_bound(0.002), windows=1)

    state = limit.state

    assert (round(state.recent, 4), round(state.baseline, 4), state.gradient, state.demand) == (
        0.002,
        0.002,
        1.0,
        WINDOW,
    )
