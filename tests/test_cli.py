"""The command line as a CI user drives it: exit codes, formats, selection, configuration, suppressions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import EXAMPLES, SCRIPTS, run_cli
from fitdoctor.cli import app

runner = CliRunner()
BROKEN = EXAMPLES / "gelu_final_activation" / "broken.py"
HEALTHY = EXAMPLES / "gelu_final_activation" / "healthy.py"
CONFIGURED = SCRIPTS / "configured" / "train.py"
FAST = ["--steps", "60", "--replay-steps", "120"]
# Exit codes, formats and colours don't depend on which rules run: these runs select two rules that need no
# probe beyond the baseline replay (the redesign's lazy quantities), a third of a full check's analysis.
CHEAP = [*FAST, "--select", "FD201,FD601"]


def test_rules_lists_every_code_in_order() -> None:
    result = runner.invoke(app, ["rules", "--json"])
    assert result.exit_code == 0
    codes = [r["code"] for r in json.loads(result.stdout)]
    assert codes == sorted(codes) and {"FD101", "FD201", "FD301", "FD302", "FD401", "FD601"} <= set(codes)


def test_rule_explains_by_slug_and_code() -> None:
    by_slug = runner.invoke(app, ["rule", "dead-relu", "--json"])
    by_code = runner.invoke(app, ["rule", "FD301", "--json"])
    assert by_slug.exit_code == by_code.exit_code == 0
    doc = json.loads(by_slug.stdout)
    assert doc == json.loads(by_code.stdout)
    assert doc["thresholds"]["unit_active_share"]["value"] == 0.01
    text = runner.invoke(app, ["rule", "FD301"], env={"COLUMNS": "100"})
    assert "Why is this bad?" in text.stdout and "SageMaker" in text.stdout


def test_unknown_rule_is_a_clear_error() -> None:
    result = runner.invoke(app, ["rule", "no-such-rule"])
    assert result.exit_code == 2
    assert "no rule named" in result.stderr


@pytest.mark.slow
def test_exit_codes_through_clirunner() -> None:
    assert runner.invoke(app, ["check", str(HEALTHY), *CHEAP, "-q"]).exit_code == 0
    assert runner.invoke(app, ["check", str(BROKEN), *CHEAP, "-q"]).exit_code == 1
    assert runner.invoke(app, ["check", str(BROKEN), *CHEAP, "-q", "--exit-zero"]).exit_code == 0
    # A network that learns nothing fails the gate whatever the rule: FD601 alone on the GELU net is an error.
    stuck = [*FAST, "--select", "FD201,FD601", "--ignore", "FD201", "-q"]
    assert runner.invoke(app, ["check", str(BROKEN), *stuck]).exit_code == 1
    # A confirmed warning that is not measured harm (eval mode: its fix helps, 0.56 -> 0.41) passes the default
    # --fail-on error, and fails --fail-on warning.
    eval_mode = str(EXAMPLES / "eval_mode_training" / "broken.py")
    assert runner.invoke(app, ["check", eval_mode, "-q"]).exit_code == 0
    assert runner.invoke(app, ["check", eval_mode, "-q", "--fail-on", "warning"]).exit_code == 1
    assert runner.invoke(app, ["check", str(SCRIPTS / "no_step.py"), "-q"]).exit_code == 2
    assert runner.invoke(app, ["check", "missing.py"]).exit_code == 2


@pytest.mark.slow
def test_select_by_code_prefix_and_slug(check_json) -> None:
    by_code = check_json(BROKEN, *FAST, "--select", "FD201")
    assert [f["code"] for f in by_code.report["findings"]] == ["FD201"]
    by_slug = check_json(BROKEN, *FAST, "--select", "output-range-mismatch")
    assert [f["code"] for f in by_slug.report["findings"]] == ["FD201"]
    by_prefix = check_json(BROKEN, *FAST, "--select", "FD6")
    assert {f["code"] for f in by_prefix.report["findings"]} <= {"FD601", "FD602"}
    assert by_prefix.report["findings"]


def test_bad_select_is_a_usage_error() -> None:
    run = run_cli("check", str(BROKEN), "--select", "FD777")
    assert run.code == 2 and "matches no rule" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_config_and_inline_suppression(check_json) -> None:
    run = check_json(CONFIGURED)
    report = run.report
    assert report["training"]["steps_captured"] == 60  # steps = 60 from [tool.fitdoctor]
    assert report["training"]["replay"]["steps"] == 120
    codes = [f["code"] for f in report["findings"]]
    assert "FD101" in codes
    assert not any(c.startswith("FD6") for c in codes)  # ignore = ["FD6"]
    assert "FD302" not in codes and [f["code"] for f in report["suppressed"]] == ["FD302"]
    fd101 = next(f for f in report["findings"] if f["code"] == "FD101")
    assert fd101["evidence"]["threshold"] == 20.0  # the per-rule threshold override
    assert run.code == 1  # fail-on = "warning"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[tool.fitdoctor]\nstepz = 3\n", "unknown key"),
        ("[tool.fitdoctor]\nsteps = 'many'\n", "steps must be a int"),
        ("[tool.fitdoctor]\nfail-on = 'never'\n", "fail-on must be one of"),
        ("[tool.fitdoctor.thresholds]\ndead-relu = { no_such = 1 }\n", "has no threshold"),
        ("[tool.fitdoctor]\nselect = ['FD777']\n", "matches no rule"),
        ("[tool.fitdoctor\n", "can't be read as TOML"),
    ],
)
def test_bad_config_exits_2(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(table)
    script = tmp_path / "train.py"
    script.write_text("print('never runs')\n")
    result = runner.invoke(app, ["check", str(script)])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_machine_formats_keep_stdout_clean(tmp_path: Path) -> None:
    for fmt in ("json", "sarif"):
        run = run_cli("check", str(BROKEN), *CHEAP, "--format", fmt)
        assert run.code == 1
        json.loads(run.stdout)  # exactly one JSON document; the script's prints went to stderr
        assert "iter" in run.stderr
    github = run_cli("check", str(BROKEN), *CHEAP, "--format", "github")
    lines = [ln for ln in github.stdout.splitlines() if ln]
    assert lines and all(re.match(r"^::(error|warning|notice) file=[^,]+,line=\d+,title=", ln) for ln in lines)
    out = tmp_path / "report.md"
    run = run_cli("check", str(BROKEN), *CHEAP, "--format", "markdown", "--output", str(out))
    assert run.code == 1 and run.stdout == ""
    assert "FD201" in out.read_text()


@pytest.mark.slow
def test_quiet_drops_the_scripts_output() -> None:
    run = run_cli("check", str(BROKEN), *CHEAP, "--format", "json", "--quiet")
    assert "iter" not in run.stderr and json.loads(run.stdout)["status"] == "ok"


@pytest.mark.slow
def test_color_never_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    colour = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[0-9;]+)m")  # a foreground colour, not bold or dim
    plain = run_cli("check", str(HEALTHY), *CHEAP, "--color", "never")
    assert "\x1b[" not in plain.stdout and "No problems found" in plain.stdout
    forced = run_cli("check", str(HEALTHY), *CHEAP, "--color", "always")
    assert colour.search(forced.stdout)
    monkeypatch.setenv("NO_COLOR", "1")  # https://no-color.org: styles may stay, colours go
    muted = run_cli("check", str(HEALTHY), *CHEAP, "--color", "always")
    assert "No problems found" in muted.stdout and not colour.search(muted.stdout)


def test_the_scripts_output_under_the_spinner_is_printed_in_whole_lines() -> None:
    import io

    from rich.console import Console

    from fitdoctor.cli import _Echo

    sink = io.StringIO()
    echo = _Echo(Console(file=sink, width=20, color_system=None))
    for chunk in ("epo", "ch 0 [loss] 3.39\nepoch 1", " loss 2.9\n", "done without a line break"):
        echo.write(chunk)
    assert sink.getvalue() == "epoch 0 [loss] 3.39\nepoch 1 loss 2.9\n"  # markup-free, never wrapped
    echo.flush()
    assert sink.getvalue().endswith("loss 2.9\ndone without a line break\n")
