"""Every shipped example: the broken script gets its rule, confirmed with a verified fix; the healthy
twin gets no warning or error. The expected rules are read from each script's `Expected:` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLES, expected_codes

BROKEN = sorted(EXAMPLES.glob("*/broken.py"))
HEALTHY = sorted(EXAMPLES.glob("*/healthy.py"))


def _id(p: Path) -> str:
    return p.parent.name


def test_every_example_has_a_twin() -> None:
    assert BROKEN, "no examples found"
    assert {p.parent for p in BROKEN} == {p.parent for p in HEALTHY}


@pytest.mark.slow
@pytest.mark.parametrize("script", BROKEN, ids=_id)
def test_broken_example_is_diagnosed(script: Path, check_json) -> None:
    expected = expected_codes(script)
    assert expected, f"{script} expects no finding"
    run = check_json(script)
    assert run.code == 1 or (run.code == 0 and run.report and run.report["findings"]), run.stderr[-2000:]
    assert run.report is not None and run.report["status"] == "ok"
    found = run.codes("warning")
    for code in expected:
        assert code in found, f"{script.parent.name}: expected {code}, got {found}"
    root = run.finding(expected[0])
    assert root["confidence"] == "confirmed"
    assert root["location"] and root["location"]["line"] > 0
    # The root cause comes first among the expected findings.
    assert found.index(expected[0]) == min(found.index(c) for c in expected)
    if root["fix"] is not None:
        fix = root["fix"]
        assert fix["verified"], f"fix {fix['title']} not verified: {fix['before']} -> {fix['after']}"
        assert fix["after"] < fix["before"]
    else:
        assert expected[0] == "FD601", "only the symptom rule ships without a fix"


@pytest.mark.slow
@pytest.mark.parametrize("script", HEALTHY, ids=_id)
def test_healthy_twin_is_clean(script: Path, check_json) -> None:
    assert expected_codes(script) == []
    run = check_json(script)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.report is not None and run.report["status"] == "ok"
    assert run.codes("warning") == [], [f["message"] for f in run.report["findings"]]


@pytest.mark.slow
@pytest.mark.parametrize(("activation", "code"), [("relu", "FD301"), ("tanh", "FD302")])
def test_sine_variants(activation: str, code: str, check_json) -> None:
    """DEVELOPERS.md case 1: the ReLU and Tanh variants fail the same way."""
    run = check_json(EXAMPLES / "sine_elu_lr" / "broken.py", "--", "--activation", activation)
    assert code in run.codes("warning"), [f["message"] for f in run.report["findings"]]
    fix = run.finding(code)["fix"]
    assert fix and fix["verified"]
