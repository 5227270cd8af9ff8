"""The saved reports the renderer tests read are what the check writes today (see ``saved_reports.py``)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import ROOT, run_cli
from saved_reports import REPORTS, SOURCES, differences


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_saved_report_is_what_the_check_writes_today(name: str) -> None:
    run = run_cli("check", SOURCES[name], "--format", "json", "--quiet", cwd=ROOT)
    assert run.report is not None, run.stderr[-2000:]
    # Paths in tracebacks are absolute: the saved report holds them relative to the repository's root.
    live = json.loads(json.dumps(run.report).replace(str(ROOT), "<root>"))
    path = REPORTS / f"{name}.json"
    if os.environ.get("FITDOCTOR_UPDATE_SNAPSHOTS"):
        path.write_text(json.dumps(live, indent=2) + "\n", encoding="utf-8")
    saved = json.loads(path.read_text(encoding="utf-8"))
    found = differences(live, saved)
    assert not found, f"{name}: {len(found)} differences, first: {found[:5]}"
