"""Every shipped example: a broken script gets exactly the warnings and errors of its `Expected:` line, in that
order, the first (the root cause) confirmed with a verified fix; a healthy twin gets no warning or error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, PATCHED, ROOT, check_args, expected_codes, skip_without_frameworks

BROKEN = sorted(EXAMPLES.glob("*/broken*.py"))
HEALTHY = sorted(EXAMPLES.glob("*/healthy*.py"))
META = ("FD901", "FD902", "FD903")


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.stem}"


def test_every_broken_example_has_a_healthy_twin() -> None:
    assert BROKEN, "no examples found"
    assert {p.parent for p in BROKEN} <= {p.parent for p in HEALTHY}


@pytest.mark.slow
@pytest.mark.parametrize("script", BROKEN, ids=_id)
def test_broken_example_is_diagnosed(script: Path, check_json, tmp_path: Path) -> None:
    expected = expected_codes(script)
    assert expected, f"{script} expects no finding"
    skip_without_frameworks(script)
    run = check_json(script, "--diff", *check_args(script))
    assert run.report is not None, run.stderr[-2000:]
    if expected[0] in META:
        assert run.code == 2
        assert run.report["status"] != "ok"
        assert [f["code"] for f in run.report["findings"]] == [expected[0]]
        return
    assert run.code in (0, 1) and run.report["status"] == "ok", run.stderr[-2000:]
    found = run.diagnosed()
    # The exact alarms and the confirmed findings they explain, in the report's order: the root cause first.
    assert found == expected, f"{script.parent.name}: expected {expected}, got {found}"
    for code in found:
        f = run.finding(code)
        # What another finding explains is an info under it; everything else listed is an alarm.
        assert (f["severity"] == "info") == bool(f["caused_by"]), (code, f["severity"], f["caused_by"])
        assert set(f["caused_by"]) <= set(found), (code, f["caused_by"])
    root = run.finding(expected[0])
    assert root["severity"] != "info" and root["confidence"] == "confirmed"
    assert root["location"] and root["location"]["line"] > 0
    if root["fix"] is not None:
        fix = root["fix"]
        assert fix["verified"], f"fix {fix['title']} not verified: {fix['before']} -> {fix['after']}"
        assert fix["after"] is not None
        # A diverged baseline has no finite loss (null in JSON): any finite result beats it.
        assert fix["before"] is None or fix["after"] < fix["before"]
    else:
        # symptom rules, and FD105, whose evidence is itself a control replay with nothing to fix by replay
        assert expected[0] in ("FD601", "FD602", "FD204", "FD105"), "only these ship without a fix"
    _check_patch(script, run.report, tmp_path)


def _check_patch(script: Path, report: dict[str, Any], tmp_path: Path) -> None:
    """The patch (``--diff``): exactly the expected fixes, proved by re-checking the patched script, and a diff
    that ``git apply`` takes; empty where the fixes are recipes."""
    patch = report["patch"]
    fixed = PATCHED.get(script.parent.name) if script.name == "broken.py" else None
    if not fixed:
        assert patch["diff"] == "" and patch["fixes"] == [], patch["fixes"]
        return
    assert [f["code"] for f in patch["fixes"]] == fixed, patch["left_out"]
    assert patch["verified"] is True and patch["remaining"] == [], patch
    # the re-check of the patched script (a whole `fitdoctor check` in a scratch copy) ran, without the rule
    assert not [c for c, severity in patch["findings_after"] if c in fixed and severity != "info"]
    copy = tmp_path / script.relative_to(ROOT)
    copy.parent.mkdir(parents=True)
    shutil.copy(script, copy)
    applied = subprocess.run(["git", "apply", "-"], input=patch["diff"], cwd=tmp_path, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert copy.read_bytes() != script.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("script", HEALTHY, ids=_id)
def test_healthy_twin_is_clean(script: Path, check_json) -> None:
    assert expected_codes(script) == []
    skip_without_frameworks(script)
    run = check_json(script, "--diff", *check_args(script))
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.report is not None and run.report["status"] == "ok"
    assert run.codes("warning") == [], [f["message"] for f in run.report["findings"]]
    # nothing to fix: an empty patch (--diff's exit status 0 says so too)
    assert run.report["patch"]["diff"] == "" and run.report["patch"]["fixes"] == []


@pytest.mark.slow
@pytest.mark.parametrize(("activation", "code"), [("relu", "FD301"), ("tanh", "FD302")])
def test_sine_variants(activation: str, code: str, check_json) -> None:
    """DEVELOPERS.md case 1: the ReLU and Tanh variants fail the same way, for the same reason."""
    run = check_json(EXAMPLES / "sine_elu_lr" / "broken.py", "--", "--activation", activation)
    found = run.diagnosed()
    assert code in found and "FD501" in found, [f["message"] for f in run.report["findings"]]
    assert found.index("FD501") < found.index(code)
    assert run.finding("FD501")["fix"]["verified"]
    assert "FD501" in run.finding(code)["caused_by"]


@pytest.mark.slow
def test_root_cause_explains_its_consequences(check_json) -> None:
    """Unscaled inputs saturating the tanh units are one story: FD101 first, FD302 caused by it."""
    run = check_json(EXAMPLES / "interpolation_unscaled" / "broken.py")
    codes = run.diagnosed()
    assert codes[0] == "FD101" and run.codes("warning") == ["FD101"]
    assert "FD101" in run.finding("FD302")["caused_by"]
    assert "FD101" in run.finding("FD601")["caused_by"]
    # Both point at the same verified fix, measured once.
    assert run.finding("FD302")["fix"]["after"] == run.finding("FD101")["fix"]["after"]


@pytest.mark.slow
def test_the_layer_chart_says_what_the_finding_says(check_json) -> None:
    """The sine example's FD301 counts units condensed onto another as lost (75 % of the layer); the layer table
    behind the charts shows that share, not the plain dead share (25 %) it measured by itself."""
    run = check_json(EXAMPLES / "sine_tiny_relu" / "broken.py")
    assert run.report is not None
    per_layer = run.finding("FD301")["evidence"]["layers"]
    table = {layer["name"]: layer for layer in run.report["training"]["layers"]}
    assert per_layer and all(
        (table[name]["dead_init"], table[name]["dead_after"]) == (v["init"], v["after"])
        for name, v in per_layer.items()
    )
