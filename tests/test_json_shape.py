"""The JSON report keeps the field names DESIGN.md fixes."""

from __future__ import annotations

import pytest

from conftest import EXAMPLES

TOP = {"version", "script", "status", "setup", "findings", "training", "timings"}
FINDING = {"code", "rule", "severity", "confidence", "message", "location", "module", "evidence", "fix"}
FIX = {"title", "snippet", "verified", "metric", "before", "after", "steps"}


@pytest.mark.slow
def test_json_report_shape(check_json) -> None:
    run = check_json(EXAMPLES / "gelu_final_activation" / "broken.py")
    report = run.report
    assert set(report) >= TOP
    assert report["status"] == "ok"
    assert report["seed"] == 0
    assert {"model", "optimizer", "loss", "data"} <= set(report["setup"])
    assert report["findings"], "the broken example has findings"
    for finding in report["findings"]:
        assert set(finding) >= FINDING
        assert finding["severity"] in ("error", "warning", "info")
        assert finding["confidence"] in ("confirmed", "suspected")
        assert set(finding["location"]) >= {"path", "line"}
        assert isinstance(finding["evidence"], dict)
        if finding["fix"] is not None:
            assert set(finding["fix"]) >= FIX
    replay = report["training"]["replay"]
    assert replay["baseline"]["curve"] and replay["fixes"]
    assert {"capture_s", "analysis_s", "total_s"} <= set(report["timings"])


def test_the_fixture_reports_are_in_the_current_json_shape() -> None:
    """The renderer and chart tests read saved reports; each must be exactly what ``Report.to_dict`` writes today
    (a field added to the report fails this until the fixtures are rewritten through ``Report.from_dict``)."""
    import json
    from pathlib import Path

    from fitdoctor.findings import Report

    here = Path(__file__).resolve().parent
    fixtures = sorted(here.glob("reports/*.json"))
    assert fixtures
    for path in fixtures:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert Report.from_dict(data).to_dict() == data, path.name
