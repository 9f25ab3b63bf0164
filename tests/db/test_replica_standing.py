"""How a replica's standing is judged from what the pools last read: no server needed.

The end-to-end behaviour (a paused, a stopped replica) is in
tests/db/test_routing.py and tests/test_replicas.py against real servers;
these pin the arithmetic, case by case, with positions as the pools record them.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.db.backends.postgresql.replication import WalPosition, WalWatch, format_lsn, parse_lsn
from core.db.routing.config import RoutingConfig
from core.db.routing.router import least_busy
from core.db.routing.standing import Reason, Standing, judge

CONFIG = RoutingConfig(replicas=("replica1",), max_lag=5.0)
NOW = 1000.0


def standby(
    lsn: int, *, received: int | None = None, replay_age: float | None = 0.0
) -> WalPosition:
    return WalPosition(
        standby=True,
        lsn=lsn,
        received=lsn if received is None else received,
        replay_age=replay_age,
        paused=False,
        sampled_at=NOW,
    )


def primary_at(*positions: tuple[float, int]) -> WalWatch:
    """A primary's watch that saw these (time, lsn) positions, the last one now."""
    clock = [0.0]
    watch = WalWatch("default", {}, clock=lambda: clock[0])
    for at, lsn in positions:
        clock[0] = at
        watch.record(WalPosition(False, lsn, None, None, False, sampled_at=at))
    clock[0] = NOW
    return watch


def reason_of(position: WalPosition | None, primary: WalWatch | None = None, **kw: bool) -> Reason:
    return judge(
        "replica1",
        breaker_open=kw.get("breaker_open", False),
        position=position,
        primary=primary,
        config=CONFIG,
        now=NOW,
    ).reason


def test_lsns_read_as_the_numbers_they_are() -> None:
    assert (parse_lsn("16/B374D848"), format_lsn(0x16B374D848)) == (0x16B374D848, "16/B374D848")


def test_the_primary_remembers_when_it_first_passed_each_position() -> None:
    watch = primary_at((10.0, 100), (20.0, 200), (30.0, 200), (40.0, 300))

    assert [watch.passed(lsn) for lsn in (50, 100, 150, 200, 300)] == [10.0, 20.0, 20.0, 40.0, None]


def test_an_unreachable_replica_is_out_whatever_it_said_last() -> None:
    assert reason_of(standby(100), breaker_open=True) is Reason.UNREACHABLE


def test_a_replica_not_read_lately_is_not_trusted() -> None:
    old = WalPosition(True, 100, 100, 0.0, False, sampled_at=NOW - CONFIG.stale_after - 1)

    assert reason_of(old) is Reason.STALE


def test_a_server_out_of_recovery_is_not_a_replica_any_more() -> None:
    promoted = WalPosition(False, 100, None, None, False, sampled_at=NOW)

    assert reason_of(promoted) is Reason.NOT_STANDBY


def test_a_replica_with_wal_to_replay_is_as_old_as_its_last_replayed_commit() -> None:
    behind = standby(100, received=500, replay_age=CONFIG.max_lag + 1)

    assert reason_of(behind) is Reason.LAGGING


def test_a_replica_that_replayed_all_it_received_and_an_idle_primary_is_current() -> None:
    # The primary has written nothing for a minute: no lag, however old the last commit.
    idle = primary_at((NOW - 60, 100), (NOW, 100))

    assert reason_of(standby(100, replay_age=60.0), idle) is Reason.OK


def test_a_replica_cut_off_from_its_primary_lags_by_the_primarys_clock() -> None:
    # It has replayed all it received, so it thinks it is current; the primary
    # passed its position 8 s ago.
    moved_on = primary_at((NOW - 20, 100), (NOW - 8, 250), (NOW, 400))

    assert reason_of(standby(100), moved_on) is Reason.LAGGING


def test_a_replica_a_moment_behind_a_busy_primary_stays_in_rotation() -> None:
    busy = primary_at((NOW - 2, 100), (NOW - 1, 200), (NOW, 300))

    assert reason_of(standby(250), busy) is Reason.OK


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"max_lag": 10, "read_your_writes": 5}, "must be longer than max_lag"),
        ({"replicas": ["default"]}, "cannot be one of its replicas"),
        ({"replicas": ["nowhere"]}, "not in DATABASES: nowhere"),
        ({"max_lag": "soon"}, "max_lag must be a number of seconds"),
        ({"lag": 5}, "unknown key(s) lag"),
    ],
)
def test_routing_settings_that_cannot_work_are_refused(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        RoutingConfig.parse(raw, ["default"])


def in_rotation(alias: str) -> Standing:
    return Standing(alias, Reason.OK, 0.0, standby(100))


def test_idle_replicas_take_reads_in_turn() -> None:
    fit = [in_rotation("replica1"), in_rotation("replica2")]

    chosen = {least_busy(fit, load=lambda alias: (0, 0.0)).alias for _ in range(4)}

    assert chosen == {"replica1", "replica2"}


def test_a_replica_with_requests_waiting_is_passed_over() -> None:
    fit = [in_rotation("replica1"), in_rotation("replica2")]
    loads = {"replica1": (3, 1.0), "replica2": (0, 0.9)}

    chosen = {least_busy(fit, load=loads.__getitem__).alias for _ in range(4)}

    assert chosen == {"replica2"}
