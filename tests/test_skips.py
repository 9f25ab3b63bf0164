"""`make test` ends with a count of skips and their reasons, and in CI a skip fails the run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

def test_served() -> None:
    pass

def test_without_chromium() -> None:
    pytest.skip("chromium is not installed")

@pytest.mark.parametrize("n", [1, 2])
def test_without_promtool(n: int) -> None:
    pytest.skip("promtool is not installed")
"""


@pytest.fixture
def skipping(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    # Only the plugin under test: the installed ones (Django, Faker, Hypothesis...) cost seconds.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_skipping=SKIPPING)
    return pytester


def test_the_run_ends_with_the_skips_counted_by_reason(skipping: pytest.Pytester) -> None:
    result = skipping.runpytest("-p", "tests.skips")

    result.stdout.re_match_lines(
        [r".* 3 skipped -+", r" +2 x promtool is not installed", r" +1 x chromium is not installed"]
    )
    assert result.ret == pytest.ExitCode.OK


def test_in_ci_a_skip_fails_the_run(
    skipping: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")

    result = skipping.runpytest("-p", "tests.skips")

    result.stdout.fnmatch_lines(["*CI is set: a skip fails the run*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
