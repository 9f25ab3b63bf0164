"""Pass/fail gates of the release suites: read from gates.toml, judged at the end of a run.

A failed gate stops the release, so every verdict says which gate, what was
measured, the limit and by how much it passed or failed. The judging is pure
functions over a `RunStats` snapshot, so it is tested without running Locust;
`run_stats` is the one place that reads Locust's statistics.

Failed requests are told apart by the message the users record
(`failure_message`, read back by `failure_kind`), because Locust keeps those
messages, summed over workers, in its error table and its failures CSV:

- a 503 with `Retry-After` is the data layer shedding load on purpose
  (docs/data-layer.md): it has its own budget, `shed_percent`;
- any other 5xx, a 503 without `Retry-After` included, is a server error: one
  fails the suite;
- everything else (no answer, a timeout, an unexpected 4xx) counts against
  `errors_percent`, together with the server errors.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only for types: importing Locust monkey-patches the importing process with
    # gevent, and the runner and benchmarks read gates and verdicts without it.
    from locust.stats import RequestStats

# Every request the users make is named after one of these endpoint groups.
GROUPS = ("home", "listing", "search", "product", "cart", "checkout", "api")
# Every request together (Locust's "Aggregated" row).
ALL = "all"
GATES_FILE = Path(__file__).resolve().parent / "gates.toml"

SHED_TAG = "(shed)"
SERVER_ERROR_TAG = "(server error)"


class FailureKind(Enum):
    SHED = "shed"
    SERVER_ERROR = "server error"
    OTHER = "other"


def failure_message(
    status: int, retry_after: str | None, expected: Collection[int], error: BaseException | None
) -> str | None:
    """Why an answer is a failure, in words `failure_kind` can read back; None when it is fine."""
    if status in expected:
        return None
    if status == 0:
        return f"no answer ({_cause(error)})"
    if status == 503 and retry_after:
        return f"503 with Retry-After {SHED_TAG}"
    if status == 503:
        return f"503 without Retry-After {SERVER_ERROR_TAG}"
    if status >= 500:
        return f"{status} {SERVER_ERROR_TAG}"
    return f"unexpected {status}"


def _cause(error: BaseException | None) -> str:
    """`ConnectionError: RemoteDisconnected`: what was raised and what it came from, nothing that
    varies between requests (URLs, ports, addresses), so that Locust's error table groups them."""
    if error is None:
        return "connection closed"
    names = [type(error).__name__]
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    if type(error).__name__ != names[0]:
        names.append(type(error).__name__)
    return ": ".join(names)


def failure_kind(message: str) -> FailureKind:
    if SHED_TAG in message:
        return FailureKind.SHED
    if SERVER_ERROR_TAG in message:
        return FailureKind.SERVER_ERROR
    return FailureKind.OTHER


# -- gates.toml ------------------------------------------------------------------


class GateConfigError(ValueError):
    """gates.toml is wrong: said in one line before any load is sent."""


@dataclass(frozen=True)
class Latency:
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class SuiteGates:
    suite: str
    errors_percent: float
    shed_percent: float
    # Endpoint group (or ALL) -> its limits.
    latency: Mapping[str, Latency]


def load_gates(suite: str, path: Path = GATES_FILE) -> SuiteGates:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise GateConfigError(f"{path}: {error}") from None
    try:
        return parse_gates(document, suite)
    except GateConfigError as error:
        raise GateConfigError(f"{path}: {error}") from None


def parse_gates(document: Mapping[str, Any], suite: str) -> SuiteGates:
    """The suite's gates: its own table over `[defaults]`; unknown keys are errors, not ignored."""
    if suite not in document:
        raise GateConfigError(f"no [{suite}] table")
    merged = _merge(document.get("defaults", {}), document[suite])
    unknown = set(merged) - {"errors_percent", "shed_percent", "latency_ms"}
    if unknown:
        raise GateConfigError(f"[{suite}]: unknown key(s) {', '.join(sorted(unknown))}")
    latency_table = merged.get("latency_ms", {})
    groups = (ALL, *GROUPS)
    if stray := set(latency_table) - set(groups):
        raise GateConfigError(
            f"[{suite}.latency_ms]: unknown group(s) {', '.join(sorted(stray))}; "
            f"groups are {', '.join(groups)}"
        )
    latency = {}
    for group in groups:
        limits = latency_table.get(group)
        if not isinstance(limits, Mapping) or set(limits) != {"p95", "p99"}:
            raise GateConfigError(f"[{suite}.latency_ms]: {group} needs {{ p95 = ms, p99 = ms }}")
        p95, p99 = (
            _positive(f"{group}.p95", limits["p95"]),
            _positive(f"{group}.p99", limits["p99"]),
        )
        if p95 > p99:
            raise GateConfigError(f"[{suite}.latency_ms]: {group} has p95 above p99")
        latency[group] = Latency(p95, p99)
    return SuiteGates(
        suite=suite,
        errors_percent=_percent("errors_percent", merged.get("errors_percent")),
        shed_percent=_percent("shed_percent", merged.get("shed_percent")),
        latency=latency,
    )


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GateConfigError(f"{name} must be a number, not {value!r}")
    return float(value)


def _positive(name: str, value: object) -> float:
    number = _number(name, value)
    if number <= 0:
        raise GateConfigError(f"{name} must be above 0")
    return number


def _percent(name: str, value: object) -> float:
    if value is None:
        raise GateConfigError(f"{name} is missing")
    number = _number(name, value)
    if not 0 <= number <= 100:
        raise GateConfigError(f"{name} must be a percentage from 0 to 100")
    return number


# -- what a run measured ----------------------------------------------------------


@dataclass(frozen=True)
class GroupStats:
    requests: int
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Failure:
    group: str
    method: str
    message: str
    count: int

    @property
    def kind(self) -> FailureKind:
        return failure_kind(self.message)


@dataclass(frozen=True)
class RunStats:
    requests: int
    # Endpoint group (and ALL) -> what it measured; groups that sent nothing are absent.
    groups: Mapping[str, GroupStats]
    failures: tuple[Failure, ...]
    # Exceptions raised by the users' own code: a broken locustfile, not a slow shop.
    exceptions: int = 0

    def count(self, kind: FailureKind) -> int:
        return sum(failure.count for failure in self.failures if failure.kind is kind)


def run_stats(stats: RequestStats, exceptions: int = 0) -> RunStats:
    """Snapshot Locust's statistics: entries of one group (GET and POST of "cart") merged."""
    from locust.stats import StatsEntry  # in the Locust process, where Locust is loaded anyway

    merged: dict[str, StatsEntry] = {}
    for (name, _method), entry in stats.entries.items():
        if name not in merged:
            merged[name] = StatsEntry(stats, name, "")
        merged[name].extend(entry)
    groups = {
        name: GroupStats(
            requests=entry.num_requests,
            p95_ms=entry.get_response_time_percentile(0.95),
            p99_ms=entry.get_response_time_percentile(0.99),
        )
        for name, entry in [*merged.items(), (ALL, stats.total)]
        if entry.num_requests
    }
    failures = tuple(
        Failure(error.name, error.method, _message(error.error), error.occurrences)
        for error in stats.errors.values()
    )
    return RunStats(stats.total.num_requests, groups, failures, exceptions)


def _message(error: object) -> str:
    """The message as Locust keeps it: a string from a worker, or the exception itself."""
    return error if isinstance(error, str) else repr(error)


# -- verdicts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    gate: str
    passed: bool
    measured: str
    limit: str
    margin: str

    def line(self) -> str:
        operator = "<=" if self.passed else "> "
        return (
            f"{'PASS' if self.passed else 'FAIL'}  {self.gate:<32} "
            f"{self.measured:>10} {operator} {self.limit:<10} {self.margin}"
        )


def evaluate(gates: SuiteGates, stats: RunStats) -> list[Verdict]:
    """Every gate of the suite, in the order ops read them: hard failures first."""
    verdicts = [
        _server_errors(stats),
        _exceptions(stats),
        _rate(
            "errors (all but 503 shed)",
            sum(f.count for f in stats.failures if f.kind is not FailureKind.SHED),
            stats.requests,
            gates.errors_percent,
        ),
        _rate(
            "503 shed (with Retry-After)",
            stats.count(FailureKind.SHED),
            stats.requests,
            gates.shed_percent,
        ),
    ]
    for group, limits in gates.latency.items():
        measured = stats.groups.get(group)
        for name, limit in (("p95", limits.p95_ms), ("p99", limits.p99_ms)):
            gate = f"{group} {name}"
            if measured is None:
                verdicts.append(
                    Verdict(gate, False, "none", f"{limit:g} ms", "(no requests: not exercised)")
                )
                continue
            value = measured.p95_ms if name == "p95" else measured.p99_ms
            verdicts.append(_at_most(gate, value, limit, "ms"))
    return verdicts


CSV_FIELDS = ("verdict", "gate", "measured", "limit", "margin")


def write_csv(verdicts: list[Verdict], path: Path) -> None:
    """The verdicts next to Locust's own CSV files, for CI and for `make loadtest`'s summary."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for v in verdicts:
            writer.writerow(("PASS" if v.passed else "FAIL", v.gate, v.measured, v.limit, v.margin))


def read_csv(path: Path) -> list[Verdict]:
    with path.open(newline="") as source:
        return [
            Verdict(
                row["gate"], row["verdict"] == "PASS", row["measured"], row["limit"], row["margin"]
            )
            for row in csv.DictReader(source)
        ]


def _server_errors(stats: RunStats) -> Verdict:
    errors = [f for f in stats.failures if f.kind is FailureKind.SERVER_ERROR]
    count = sum(f.count for f in errors)
    where = "; ".join(
        f"{f.method} {f.group}: {f.count} x {_short(f.message)}"
        for f in sorted(errors, key=lambda f: -f.count)[:3]
    )
    return Verdict(
        "5xx other than 503+Retry-After",
        count == 0,
        str(count),
        "0",
        f"({where})" if where else "",
    )


def _exceptions(stats: RunStats) -> Verdict:
    return Verdict(
        "locustfile exceptions",
        stats.exceptions == 0,
        str(stats.exceptions),
        "0",
        "(see the report's Exceptions tab)" if stats.exceptions else "",
    )


def _rate(gate: str, failed: int, requests: int, limit: float) -> Verdict:
    """`failed` as a share of every request sent, against a limit in percent."""
    if requests == 0:
        return Verdict(gate, False, "none", f"{limit:g}%", "(no requests at all)")
    verdict = _at_most(gate, 100 * failed / requests, limit, "%")
    return replace(verdict, margin=f"{verdict.margin} [{failed} of {requests}]")


def _at_most(gate: str, value: float, limit: float, unit: str) -> Verdict:
    if unit == "%":
        measured, shown_limit = f"{value:.2f}%", f"{limit:g}%"
        spare, over = f"{limit - value:.2f} points", f"{value - limit:.2f} points"
    else:
        measured, shown_limit = f"{value:g} {unit}", f"{limit:g} {unit}"
        spare, over = f"{limit - value:g} {unit}", f"{value - limit:g} {unit}"
    if value <= limit:
        return Verdict(gate, True, measured, shown_limit, f"({spare} to spare)")
    relative = f", +{100 * (value - limit) / limit:.0f}%" if limit else ""
    return Verdict(gate, False, measured, shown_limit, f"(over by {over}{relative})")


def _short(message: str) -> str:
    return message.removeprefix("CatchResponseError(").removesuffix(")").strip("'\"")
