"""The rule catalog commands."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from conftest import run_cli
from fitdoctor.cli import app

runner = CliRunner()


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
    run = run_cli("rule", "no-such-rule")
    assert run.code == 2
    assert "no rule named" in run.stderr and "Traceback" not in run.stderr
