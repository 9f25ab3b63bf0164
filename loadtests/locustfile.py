"""The release suites: `locust -f loadtests/locustfile.py --headless --suite smoke --host URL`.

`make loadtest` (loadtests/run.py) runs this against a stack of its own or
TARGET_URL; the `locust` compose service runs it distributed. Either way:

- `--suite` (or LOCUST_SUITE) picks the load shape: smoke, baseline, spike,
  soak or scaleout (loadtests/suites.py); every one ends by itself;
- at start, every process that sends load reads the catalog from the target's
  JSON API, and the gates of the suite are checked, so a wrong host or a typo
  in gates.toml stops the run before any load is sent;
- at the end, the node that holds the statistics (the only one, or the master)
  judges the gates (loadtests/gates.toml), prints one line per gate, writes
  them next to the CSV report (`<--csv>_gates.csv`) and exits 1 if any failed.
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.gates import (
    GATES_FILE,
    GateConfigError,
    SuiteGates,
    evaluate,
    load_gates,
    run_stats,
    write_csv,
)
from loadtests.live_catalog import CatalogError, fetch
from loadtests.shapes import ReleaseShape
from loadtests.suites import DEFAULT_SUITE, SUITES
from loadtests.users import ApiClient, Shopper, StoreUser

# Imported for Locust, which collects the users and the shape from this module's names.
__all__ = ["ApiClient", "ReleaseShape", "Shopper"]

logger = logging.getLogger("loadtests")
# Exit code when the run could not start (no catalog, bad gates): not a failed gate.
CANNOT_RUN = 2


@events.init_command_line_parser.add_listener
def add_options(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default=DEFAULT_SUITE,
        env_var="LOCUST_SUITE",
        help="Release suite: the load shape and the gates it is judged by (default smoke).",
    )
    parser.add_argument(
        "--gates",
        default=str(GATES_FILE),
        env_var="LOCUST_GATES",
        help="Gates file (default loadtests/gates.toml).",
    )


@events.init.add_listener
def prepare(environment: Environment, **_: Any) -> None:
    """Fail before sending load when the gates are unreadable or the target has no catalog."""
    options = environment.parsed_options
    if options is None:
        return
    try:
        if not isinstance(environment.runner, WorkerRunner):
            # Read now, once: an edit during an hour-long soak does not change its verdict.
            gates = load_gates(options.suite, Path(options.gates))
            environment.events.quitting.add_listener(partial(judge, gates=gates))
        if not isinstance(environment.runner, MasterRunner):
            if not environment.host:
                raise CatalogError("no target: give --host (make loadtest passes it)")
            StoreUser.catalog = catalog = fetch(environment.host)
            logger.info(
                "catalog of %s: %d categories, %d products read (%d in stock), %d search words",
                environment.host,
                len(catalog.categories),
                len(catalog.products),
                len(catalog.in_stock),
                len(catalog.words),
            )
    except (GateConfigError, CatalogError) as error:
        logger.error("cannot run the %s suite: %s", options.suite, error)
        raise SystemExit(CANNOT_RUN) from None


def judge(environment: Environment, gates: SuiteGates, **_: Any) -> None:
    """The gates' verdicts, one line each; Locust exits 1 when any failed."""
    options = environment.parsed_options
    runner = environment.runner
    if options is None or runner is None:
        return
    exceptions = sum(row["count"] for row in runner.exceptions.values())
    verdicts = evaluate(gates, run_stats(runner.stats, exceptions))
    failed = sum(not verdict.passed for verdict in verdicts)
    summary = f"{failed} of {len(verdicts)} FAILED" if failed else "all PASS"
    sys.stdout.write(
        f"\nGates of the {gates.suite} suite ({summary}):\n"
        + "".join(f"  {verdict.line()}\n" for verdict in verdicts)
    )
    if options.csv_prefix:
        write_csv(verdicts, Path(f"{options.csv_prefix}_gates.csv"))
    environment.process_exit_code = 1 if failed else 0
