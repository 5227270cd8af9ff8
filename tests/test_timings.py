"""The per-phase timings: in the JSON report, and as one line on stderr with --verbose."""

from __future__ import annotations

from conftest import EXAMPLES, run_cli
from fitdoctor.report.timings import timing_line


def test_the_timing_line_names_the_phases_that_ran_in_order() -> None:
    line = timing_line({"capture_s": 2.04, "plan_s": 0.004, "baseline_s": 1.25, "confirm_s": 0.0, "total_s": 3.6})
    assert line == "timings: your script 2.0 s · plan 4 ms · baseline replay 1.2 s · total 3.6 s"
    assert timing_line({}) == "timings: none measured"


def test_verbose_prints_the_phases_on_stderr_and_the_json_holds_them() -> None:
    script = EXAMPLES / "gelu_final_activation" / "broken.py"
    run = run_cli("check", str(script), "--format", "json", "--quiet", "--verbose", "--select", "FD201,FD602")
    assert run.code == 1, run.stderr[-2000:]
    assert run.report is not None
    timings = run.report["timings"]
    phases = {
        "start_s",
        "capture_s",
        "build_s",
        "plan_s",
        "probes_s",
        "baseline_s",
        "overfit_s",
        "confirm_s",
        "probe_s",
        "total_s",
    }
    assert phases <= set(timings) and all(timings[k] >= 0 for k in phases)
    (line,) = [x for x in run.stderr.splitlines() if x.startswith("timings: ")]
    assert (
        "start-up" in line
        and "your script" in line
        and "baseline replay" in line
        and "overfit check" in line
        and "total" in line
    )
