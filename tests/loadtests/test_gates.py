"""The release gates, judged over hand-made statistics: no Locust run, no server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from locust.stats import RequestStats

from loadtests.gates import (
    ALL,
    GROUPS,
    Failure,
    FailureKind,
    GateConfigError,
    GroupStats,
    Latency,
    RunStats,
    SuiteGates,
    evaluate,
    failure_kind,
    failure_message,
    load_gates,
    parse_gates,
    read_csv,
    run_stats,
    write_csv,
)
from loadtests.suites import SUITES

LIMITS = {group: Latency(p95_ms=300, p99_ms=600) for group in (ALL, *GROUPS)}
GATES = SuiteGates("smoke", errors_percent=1.0, shed_percent=0.5, latency=LIMITS)
FAST = {group: GroupStats(requests=100, p95_ms=100, p99_ms=200) for group in (ALL, *GROUPS)}


def run(**overrides: Any) -> RunStats:
    fields: dict[str, Any] = {"requests": 1000, "groups": FAST, "failures": ()}
    fields.update(overrides)
    return RunStats(**fields)


def verdict(stats: RunStats, gate: str, gates: SuiteGates = GATES) -> Any:
    [found] = [v for v in evaluate(gates, stats) if v.gate == gate]
    return found


def failure(status: int, retry_after: str | None = None, count: int = 1) -> Failure:
    message = failure_message(status, retry_after, (200,), None)
    assert message is not None
    return Failure("checkout", "POST", message, count)


def test_a_healthy_run_passes_every_gate() -> None:
    assert [v.gate for v in evaluate(GATES, run()) if not v.passed] == []


def test_there_is_a_p95_and_a_p99_gate_for_every_group() -> None:
    gates = {v.gate for v in evaluate(GATES, run())}

    assert {f"{group} {p}" for group in (ALL, *GROUPS) for p in ("p95", "p99")} <= gates


def test_a_slow_group_fails_its_gate_and_says_by_how_much() -> None:
    groups = {**FAST, "search": GroupStats(requests=100, p95_ms=450, p99_ms=500)}

    failed = verdict(run(groups=groups), "search p95")

    assert (failed.passed, failed.margin) == (False, "(over by 150 ms, +50%)")


def test_a_passing_gate_says_what_is_to_spare() -> None:
    assert verdict(run(), "home p99").margin == "(400 ms to spare)"


def test_a_group_the_run_never_exercised_fails() -> None:
    groups = {name: stats for name, stats in FAST.items() if name != "checkout"}

    assert verdict(run(groups=groups), "checkout p95").passed is False


def test_one_500_fails_the_run_whatever_the_error_budget() -> None:
    assert verdict(run(failures=(failure(500),)), "5xx other than 503+Retry-After").passed is False


def test_a_503_without_retry_after_is_a_server_error() -> None:
    assert verdict(run(failures=(failure(503),)), "5xx other than 503+Retry-After").passed is False


def test_503s_with_retry_after_are_not_server_errors() -> None:
    stats = run(failures=(failure(503, "2", count=3),))

    assert verdict(stats, "5xx other than 503+Retry-After").passed is True


def test_503s_with_retry_after_have_their_own_budget() -> None:
    stats = run(failures=(failure(503, "2", count=6),))

    shed, errors = (
        verdict(stats, "503 shed (with Retry-After)"),
        verdict(stats, "errors (all but 503 shed)"),
    )

    assert (shed.passed, errors.passed) == (False, True)


def test_the_error_rate_counts_everything_but_sheds() -> None:
    stats = run(failures=(failure(404, count=6), failure(0, count=5)))

    assert verdict(stats, "errors (all but 503 shed)").measured == "1.10%"


def test_errors_within_budget_pass() -> None:
    assert verdict(run(failures=(failure(404, count=10),)), "errors (all but 503 shed)").passed


def test_exceptions_in_the_locustfile_fail_the_run() -> None:
    assert verdict(run(exceptions=1), "locustfile exceptions").passed is False


def test_a_run_without_requests_fails() -> None:
    assert verdict(run(requests=0, groups={}), "errors (all but 503 shed)").passed is False


@pytest.mark.parametrize(
    ("status", "retry_after", "kind"),
    [
        (503, "2", FailureKind.SHED),
        (503, None, FailureKind.SERVER_ERROR),
        (500, None, FailureKind.SERVER_ERROR),
        (502, "5", FailureKind.SERVER_ERROR),
        (404, None, FailureKind.OTHER),
        (0, None, FailureKind.OTHER),
    ],
)
def test_failure_messages_read_back_as_their_kind(
    status: int, retry_after: str | None, kind: FailureKind
) -> None:
    message = failure_message(status, retry_after, (200,), None)
    assert message is not None
    # Locust keeps the exception's repr when the failure was raised in a worker.
    assert failure_kind(f"CatchResponseError({message!r})") is kind


def test_an_expected_status_is_no_failure() -> None:
    assert failure_message(409, None, (303, 409), None) is None


def test_run_stats_reads_locusts_statistics_merging_a_groups_methods() -> None:
    stats = RequestStats()
    for ms in range(1, 101):
        stats.log_request("GET", "cart", ms, 100)
    for _ in range(100):
        stats.log_request("POST", "cart", 1000, 0)
    stats.log_error("POST", "cart", "503 with Retry-After (shed)")

    snapshot = run_stats(stats)

    cart = snapshot.groups["cart"]
    assert (cart.requests, cart.p95_ms, snapshot.count(FailureKind.SHED)) == (200, 1000, 1)


# -- gates.toml ---------------------------------------------------------------------------


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_suite_has_complete_gates(suite: str) -> None:
    assert set(load_gates(suite).latency) == {ALL, *GROUPS}


def test_the_spike_may_shed_but_an_ordinary_day_may_not() -> None:
    assert (load_gates("spike").shed_percent > 0, load_gates("baseline").shed_percent) == (True, 0)


def document(**suite: Any) -> dict[str, Any]:
    latency = {group: {"p95": 100, "p99": 200} for group in (ALL, *GROUPS)}
    return {
        "defaults": {"errors_percent": 1, "shed_percent": 0, "latency_ms": latency},
        "smoke": suite,
    }


def test_a_suite_overrides_one_groups_limits_and_keeps_the_others() -> None:
    gates = parse_gates(document(latency_ms={"search": {"p95": 300, "p99": 900}}), "smoke")

    assert (gates.latency["search"], gates.latency["home"]) == (
        Latency(300, 900),
        Latency(100, 200),
    )


@pytest.mark.parametrize(
    ("suite", "complaint"),
    [
        ({"error_percent": 1}, "unknown key"),
        ({"latency_ms": {"serch": {"p95": 1, "p99": 2}}}, "unknown group"),
        ({"latency_ms": {"home": {"p95": 500, "p99": 200}}}, "p95 above p99"),
        ({"latency_ms": {"home": {"p95": 100, "p99": 200, "p50": 50}}}, "needs"),
        ({"shed_percent": 120}, "percentage"),
        ({"errors_percent": "1%"}, "must be a number"),
    ],
)
def test_a_mistake_in_the_gates_is_refused_with_a_reason(
    suite: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(GateConfigError, match=complaint):
        parse_gates(document(**suite), "smoke")


def test_a_suite_without_gates_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gates.toml"
    path.write_text("[defaults]\nerrors_percent = 1\n")

    with pytest.raises(GateConfigError, match=r"no \[baseline\] table"):
        load_gates("baseline", path)


def test_verdicts_survive_the_csv_round_trip(tmp_path: Path) -> None:
    verdicts = evaluate(GATES, run(failures=(failure(500),)))
    write_csv(verdicts, tmp_path / "gates.csv")

    assert read_csv(tmp_path / "gates.csv") == verdicts


def test_no_answer_names_the_error_and_its_cause_but_nothing_that_varies() -> None:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer at 127.0.0.1:53412")
        except OSError as reset:
            raise ConnectionError("http://127.0.0.1:53412/c/gizmos/?page=2") from reset
    except ConnectionError as error:
        message = failure_message(0, None, (200,), error)

    assert message == "no answer (ConnectionError: ConnectionResetError)"
