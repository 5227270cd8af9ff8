"""`fitdoctor check --diff` / `--fix`: `--diff` never writes, `--fix` writes exactly the proved patch, and the plain
diff, SARIF and Markdown carry the same change. (Every broken example's own patch is checked in test_examples.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, run_cli
from fitdoctor.confirm import MIN_IMPROVEMENT
from fitdoctor.patches.prove import IMPROVEMENT


def _copy(example: str, tmp_path: Path) -> Path:
    folder = tmp_path / example
    shutil.copytree(EXAMPLES / example, folder)
    return folder


def test_the_patch_bar_is_the_replays_bar() -> None:
    assert IMPROVEMENT == MIN_IMPROVEMENT


@pytest.mark.slow
def test_fix_writes_the_proved_patch_and_reports_it(tmp_path: Path) -> None:
    folder = _copy("gelu_final_activation", tmp_path)
    before = (folder / "broken.py").read_text()
    run = run_cli("check", "broken.py", "--fix", "-q", "--color", "never", cwd=folder)
    after = (folder / "broken.py").read_text()
    assert "x = F.gelu(self.fc3(x))" in before and "x = self.fc3(x)\n" in after
    assert before.replace("x = F.gelu(self.fc3(x))", "x = self.fc3(x)") == after  # that line, nothing else
    assert "fixed: wrote broken.py." in run.stderr and "verified by running your patched script" in run.stderr
    assert "patch: 1 fix (FD201 remove-final-activation), verified" in run.stdout  # the report shows it
    # exit status from what the patched file still raises: no error left
    assert run.code == 0, run.stdout[-3000:]
    rerun = run_cli("check", "broken.py", "--diff", "-q", "--select", "FD201", cwd=folder)
    assert rerun.code == 0 and rerun.stdout == ""  # nothing left to fix


@pytest.mark.slow
def test_the_plain_diff_is_what_patch_p1_takes_and_sarif_and_markdown_carry_it(tmp_path: Path) -> None:
    folder = _copy("missing_zero_grad", tmp_path)
    plain = run_cli("check", "broken.py", "--diff", "-q", cwd=folder)
    assert plain.code == 1 and plain.stdout.startswith("--- a/broken.py\n+++ b/broken.py\n")
    assert "patch: 1 fix (FD503 zero-grad), verified by running your patched script" in plain.stderr
    original = (folder / "broken.py").read_text()
    dry = subprocess.run(["patch", "-p1", "--dry-run"], input=plain.stdout, cwd=folder, capture_output=True, text=True)
    if dry.returncode != 127:  # `patch` installed
        assert dry.returncode == 0, dry.stdout + dry.stderr
    sarif_run = run_cli("check", "broken.py", "--diff", "--format", "sarif", "-q", cwd=folder)
    assert sarif_run.code == 1
    (result,) = [r for r in json.loads(sarif_run.stdout)["runs"][0]["results"] if r["ruleId"] == "FD503"]
    (fix,) = result["fixes"]
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "broken.py"
    text = original
    for r in sorted(change["replacements"], key=lambda r: -r["deletedRegion"]["charOffset"]):
        start, length = r["deletedRegion"]["charOffset"], r["deletedRegion"]["charLength"]
        text = text[:start] + r["insertedContent"]["text"] + text[start + length :]
    markdown = run_cli("check", "broken.py", "--diff", "--format", "markdown", "-q", "--select", "FD503", cwd=folder)
    assert markdown.code == 1 and "```diff\n--- a/broken.py\n+++ b/broken.py\n" in markdown.stdout
    subprocess.run(["git", "apply", "-"], input=plain.stdout, cwd=folder, check=True, text=True)
    assert text == (folder / "broken.py").read_text()  # SARIF's replacements and the diff agree
