"""The share formula: fair, never above the budget, and safe while the fleet grows."""

from __future__ import annotations

import itertools

from core.db.backends.postgresql.budget import compute_share
from core.db.backends.postgresql.stats import ServerStats

ME = "ww/h/1"


def server(max_connections: int, **held: int) -> ServerStats:
    """`ww_h_2=3` means process ww/h/2 holds three connections."""
    return ServerStats(
        max_connections=max_connections,
        reserved=3,
        connections={(name.replace("_", "/"), "idle"): n for name, n in held.items()},
    )


def ceiling(stats: ServerStats, me: str = ME, **limits: int) -> int:
    options = {"headroom": 4, "min_size": 1, "max_size": 100, "threads": None, **limits}
    return compute_share(stats, fleet="ww", me=me, **options).ceiling  # type: ignore[arg-type]


def test_one_process_may_use_the_budget_but_a_slot_for_a_newcomer() -> None:
    # 40 - 3 reserved - 4 headroom = 33; one slot kept for a process joining.
    assert ceiling(server(40)) == 32


def test_clients_that_are_not_ours_come_off_the_budget() -> None:
    assert ceiling(server(40, psql=5)) == 27


def test_our_sampling_connections_are_not_counted() -> None:
    assert ceiling(server(40, **{"ww-monitor_h_2": 1})) == 32


def test_more_processes_mean_smaller_shares() -> None:
    three = server(40, ww_h_1=2, ww_h_2=2, ww_h_3=2)
    six = server(40, ww_h_1=2, ww_h_2=2, ww_h_3=2, ww_h_4=1, ww_h_5=1, ww_h_6=1)

    # ww/h/6 is last by name: none of the remainder's slots (budget.py's `part`) is its.
    assert (ceiling(three), ceiling(six, me="ww/h/6")) == (10, 4)


def test_a_newcomer_does_not_grow_into_slots_the_others_still_hold() -> None:
    # Six processes at their share of 4, six more just joined with one each.
    fleet = {f"ww_h_{n}": 4 for n in range(1, 7)} | {f"ww_h_{n}": 1 for n in range(7, 13)}

    stats = server(40, **fleet)

    # Names sort as text: ww/h/6 and ww/h/7 come after ww/h/1 and ww/h/10, which get the remainder.
    assert (ceiling(stats, me="ww/h/7"), ceiling(stats, me="ww/h/6")) == (1, 2)


def test_the_fleet_can_double_without_exceeding_the_budget() -> None:
    budget = 40 - 3 - 4
    for processes in range(1, 9):
        old = {f"ww_h_{n}": 1 for n in range(1, processes + 1)}
        stats = server(40, **old)
        settled = {name: ceiling(stats, me=name.replace("_", "/")) for name in old}
        joined = settled | {f"ww_h_{n}": 1 for n in range(processes + 1, 2 * processes + 1)}

        assert sum(joined.values()) <= budget, processes


def test_shares_computed_from_one_snapshot_never_exceed_the_budget() -> None:
    budget = 40 - 3 - 4
    for processes, held in itertools.product(range(1, 13), range(0, 6)):
        fleet = {f"ww_h_{n}": held for n in range(1, processes + 1)}
        stats = server(40, **fleet)
        total = sum(ceiling(stats, me=name.replace("_", "/")) for name in fleet)

        assert total <= max(budget, processes), (processes, held)


def test_a_share_that_does_not_divide_evenly_is_used_whole() -> None:
    """50 pods of 2 processes, 193 slots: 48 kept for newcomers, the other 145 all handed out."""
    fleet = {f"ww_h_{n:03d}": 1 for n in range(100)}
    stats = server(200, **fleet)

    ceilings = [ceiling(stats, me=name.replace("_", "/")) for name in fleet]

    assert (sum(ceilings), sorted(set(ceilings))) == (145, [1, 2])


def test_the_ceiling_never_drops_below_the_minimum() -> None:
    crowded = server(10, **{f"ww_h_{n}": 1 for n in range(1, 20)})

    assert ceiling(crowded, min_size=2) == 2


def test_the_ceiling_never_exceeds_the_threads() -> None:
    assert ceiling(server(40), threads=8) == 8
