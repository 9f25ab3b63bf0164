"""The status rules and their hysteresis, with the clock injected: no sleeping."""

from __future__ import annotations

from core.status import rules
from core.status.components import ComponentStatus

DEGRADE, RECOVER = 30.0, 120.0


def window(requests: int = 100, failed: int = 0, **fleet: int) -> rules.Window:
    counts = {"storefront": {rules.REQUESTS: requests, rules.BUSY: failed}}
    return rules.Window(seconds=60, counts=counts, **fleet)


def run(samples: list[tuple[float, rules.Window]]) -> list[ComponentStatus]:
    """The published status after each (time, window) evaluation."""
    track = rules.Track()
    published = []
    for now, seen in samples:
        track = track.step(rules.assess(seen, "storefront"), now, DEGRADE, RECOVER)
        published.append(track.status)
    return published


def test_thresholds_map_failure_shares_to_statuses() -> None:
    assert [rules.assess(window(failed=f), "storefront").status for f in (0, 5, 20, 60)] == [
        ComponentStatus.OPERATIONAL,
        ComponentStatus.DEGRADED_PERFORMANCE,
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.MAJOR_OUTAGE,
    ]


def test_a_handful_of_requests_is_no_evidence() -> None:
    assert rules.assess(window(requests=3, failed=3), "storefront").status == (
        ComponentStatus.OPERATIONAL
    )


def test_every_worker_unable_to_reach_the_database_is_a_major_outage() -> None:
    seen = window(requests=0, workers=4, database_down=4)
    assert rules.assess(seen, "storefront").status == ComponentStatus.MAJOR_OUTAGE


def test_unready_workers_degrade_but_are_no_outage() -> None:
    """Readiness fails on a busy pool too: slow, not down; failures are judged by their share."""
    assessed = [rules.assess(window(workers=4, unready=n), "storefront").status for n in (1, 4)]
    assert assessed == [ComponentStatus.DEGRADED_PERFORMANCE] * 2


def test_stale_answers_degrade_browsing() -> None:
    seen = rules.Window(60, {"storefront": {rules.REQUESTS: 100, rules.STALE: 10}})
    assert rules.assess(seen, "storefront").status == ComponentStatus.DEGRADED_PERFORMANCE


def test_degrades_only_after_the_condition_held_for_degrade_after() -> None:
    bad = window(failed=20)
    assert run([(0, bad), (15, bad), (29, bad), (30, bad)]) == [
        ComponentStatus.OPERATIONAL,
        ComponentStatus.OPERATIONAL,
        ComponentStatus.OPERATIONAL,
        ComponentStatus.PARTIAL_OUTAGE,
    ]


def test_one_bad_evaluation_never_flips_the_page() -> None:
    bad, good = window(failed=60), window()
    published = run([(t, bad if t == 10 else good) for t in range(0, 200, 5)])
    assert set(published) == {ComponentStatus.OPERATIONAL}


def test_an_interrupted_condition_starts_its_clock_again() -> None:
    bad, good = window(failed=20), window()
    published = run([(0, bad), (20, good), (25, bad), (50, bad), (55, bad)])
    assert published[-2:] == [ComponentStatus.OPERATIONAL, ComponentStatus.PARTIAL_OUTAGE]


def test_recovers_only_after_the_condition_cleared_for_recover_after() -> None:
    bad, good = window(failed=20), window()
    published = run([(0, bad), (30, bad), (40, good), (159, good), (160, good)])
    assert published[1:] == [
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.OPERATIONAL,
    ]


def test_a_relapse_during_recovery_keeps_the_outage() -> None:
    bad, good = window(failed=20), window()
    published = run([(0, bad), (30, bad), (40, good), (100, bad), (200, good), (300, good)])
    assert published[-2:] == [ComponentStatus.PARTIAL_OUTAGE, ComponentStatus.PARTIAL_OUTAGE]


def test_a_track_survives_the_trip_through_the_shared_document() -> None:
    track = rules.Track().step(rules.assess(window(failed=20), "storefront"), 5, DEGRADE, RECOVER)
    assert rules.Track.from_dict(track.as_dict()) == track
