"""The concise, SARIF, GitHub and Markdown renderers, on reports saved from real runs (``saved_reports.py``).

The fixtures were made with ``fitdoctor check SCRIPT --format json``: the unscaled-inputs example (several
findings, verified fixes, causes), a healthy example (no findings) and a script that crashes in training.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fitdoctor.catalog import load_catalog
from fitdoctor.findings import FileWrite, Finding, Fix, Report
from fitdoctor.location import Location
from fitdoctor.measured import evidence_to_json
from fitdoctor.report import concise, github, markdown, sarif
from fitdoctor.summary import TrainingSummary
from saved_reports import load

#: The OASIS SARIF 2.1.0 JSON schema, vendored so that every clone validates against it.
SARIF_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-2.1.0.json"
FIXTURES = ("interpolation_unscaled", "gelu_healthy", "crash")
LEVEL = {"error": "error", "warning": "warning", "info": "note"}

#: A message with everything GitHub's workflow commands must escape.
AWKWARD = "50% of units: dead, 3 of 4\nsecond line\r\nthird | line with %0A and %25 literally"


def awkward_report() -> Report:
    """A hand-made report whose message and path need every escape, with non-finite numbers in it."""
    fix = Fix(
        id="lower-lr",
        title="Lower the learning rate: 0.1, then 0.01",
        snippet="opt = torch.optim.SGD(model.parameters(), lr=0.01)",
        verified=True,
        metric="loss",
        before=None,
        after=0.25,
        steps=100,
        location=Location("dir, odd: name/train%.py", 7, "opt = torch.optim.SGD(model.parameters(), lr=0.1)"),
    )
    findings = (
        Finding(
            code="FD402",
            rule="exploding-gradients",
            severity="error",
            confidence="confirmed",
            message=AWKWARD,
            location=Location("dir, odd: name/train%.py", 12, "loss.backward()"),
            evidence={"grad_norm": float("inf"), "ratio": float("nan"), "nested": {"x": [1.0, float("-inf")]}},
            fix=fix,
        ),
        Finding(
            code="FD502",
            rule="learning-rate-too-low",
            severity="info",
            confidence="suspected",
            message="The learning rate is low",
            location=Location("/abs/path/train.py", 3, "lr = 1e-6"),
        ),
        Finding(
            code="FD301",
            rule="dead-relu",
            severity="warning",
            confidence="suspected",
            message="Dead units",
        ),
    )
    return Report(version="0.1.0", script="train.py", status="ok", findings=findings)


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return load_catalog()


@pytest.fixture(scope="module")
def sarif_validator() -> Any:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_fixtures_are_what_the_tests_expect() -> None:
    interpolation, healthy, crash = (load(n) for n in FIXTURES)
    assert interpolation.status == "ok" and len(interpolation.findings) >= 3
    assert any(f.fix is not None and f.fix.verified for f in interpolation.findings)
    assert any(f.caused_by for f in interpolation.findings)
    assert healthy.status == "ok" and not healthy.findings
    assert crash.status == "crashed" and [f.code for f in crash.findings] == ["FD901"]
    location = crash.findings[0].location  # the line that raised
    assert location is not None and location.source == 'raise ValueError("corrupt batch 4")'
    assert (crash.error or {}).get("traceback")


# --- SARIF -------------------------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise AssertionError(f"non-finite number {name} in the SARIF output")


def sarif_of(report: Report, catalog: dict[str, Any]) -> dict[str, Any]:
    """Render and parse, refusing NaN and Infinity."""
    data: dict[str, Any] = json.loads(sarif.render(report, catalog), parse_constant=_no_constants)
    return data


@pytest.mark.parametrize("name", FIXTURES)
def test_sarif_validates_against_the_schema(name: str, catalog: dict[str, Any], sarif_validator: Any) -> None:
    log = sarif_of(load(name), catalog)
    errors = sorted(sarif_validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"


def test_sarif_of_awkward_report_validates(catalog: dict[str, Any], sarif_validator: Any) -> None:
    log = sarif_of(awkward_report(), catalog)
    assert not list(sarif_validator.iter_errors(log))


@pytest.mark.parametrize("name", FIXTURES)
def test_sarif_rules_and_results(name: str, catalog: dict[str, Any]) -> None:
    report = load(name)
    run = sarif_of(report, catalog)["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "fitdoctor" and driver["version"] == report.version
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == list(catalog)
    for rule in rules:
        doc = catalog[rule["id"]]
        assert rule["name"] == doc.slug
        assert rule["shortDescription"]["text"] == doc.title
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] == LEVEL[doc.severity]
        assert rule["properties"]["tags"] == [doc.category]
        assert rule["properties"]["precision"] in ("very-high", "high")
    results = run["results"]
    assert len(results) == len(report.findings)
    for result, finding in zip(results, report.findings, strict=True):
        assert result["ruleId"] == finding.code
        assert rules[result["ruleIndex"]]["id"] == finding.code
        assert result["level"] == LEVEL[finding.severity]
        assert result["message"]["text"].startswith(finding.message.split("\n")[0][:40])
        if finding.fix is not None:
            state = "verified" if finding.fix.verified else "not verified"
            assert f" Fix: {finding.fix.title} ({state}: " in result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        path, line = (finding.location.path, finding.location.line) if finding.location else (report.script, 1)
        assert physical["artifactLocation"] == {"uri": path, "uriBaseId": "%SRCROOT%"}
        assert physical["region"]["startLine"] == line
        assert re.fullmatch(r"[0-9a-f]{16}:\d+", result["partialFingerprints"]["primaryLocationLineHash"])
        assert result["properties"]["confidence"] == finding.confidence
        assert result["properties"]["evidence"] == evidence_to_json(finding.evidence)
        for related in result.get("relatedLocations", []):
            assert related["message"]["text"], "GitHub rejects a related location without a message"


def test_sarif_invocation_says_whether_the_check_ran(catalog: dict[str, Any]) -> None:
    (ok,) = sarif_of(load("interpolation_unscaled"), catalog)["runs"][0]["invocations"]
    assert ok["executionSuccessful"] is True
    crash = load("crash")
    (failed,) = sarif_of(crash, catalog)["runs"][0]["invocations"]
    assert failed["executionSuccessful"] is False
    (note,) = failed["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"] == (crash.error or {})["message"]
    assert note["associatedRule"]["id"] == "FD901"


def test_sarif_fingerprints_are_stable_and_ignore_the_line_number(catalog: dict[str, Any]) -> None:
    report = load("interpolation_unscaled")
    first = [r["partialFingerprints"] for r in sarif_of(report, catalog)["runs"][0]["results"]]
    assert first == [r["partialFingerprints"] for r in sarif_of(report, catalog)["runs"][0]["results"]]
    moved = Report.from_dict(
        {
            **report.to_dict(),
            "findings": [
                {**f.to_dict(), "location": {**f.to_dict()["location"], "line": f.location.line + 5}}
                for f in report.findings
                if f.location
            ],
        }
    )
    assert [r["partialFingerprints"] for r in sarif_of(moved, catalog)["runs"][0]["results"]] == first
    assert sarif.line_hash("FD101", "a.py", "x = 1") != sarif.line_hash("FD102", "a.py", "x = 1")
    assert sarif.line_hash("FD101", "a.py", "x = 1") != sarif.line_hash("FD101", "b.py", "x = 1")


def test_sarif_non_finite_numbers_and_odd_paths(catalog: dict[str, Any]) -> None:
    results = sarif_of(awkward_report(), catalog)["runs"][0]["results"]
    first, absolute, no_location = results
    assert first["properties"]["evidence"] == {"grad_norm": None, "ratio": None, "nested": {"x": [1.0, None]}}
    assert first["properties"]["fix"]["before"] is None
    assert first["message"]["text"].endswith("(verified: diverged → 0.25).")
    uri = first["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": "dir%2C%20odd%3A%20name/train%25.py", "uriBaseId": "%SRCROOT%"}
    (related,) = first["relatedLocations"]
    assert related["physicalLocation"]["region"]["startLine"] == 7
    assert absolute["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///abs/path/train.py"}
    assert no_location["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "train.py"
    assert no_location["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_sarif_artifact_locations() -> None:
    assert sarif.artifact_location("src\\train.py") == {"uri": "src/train.py", "uriBaseId": "%SRCROOT%"}
    assert sarif.artifact_location("C:\\work\\train.py") == {"uri": "file:///C:/work/train.py"}


# --- GitHub workflow commands ------------------------------------------------------------------------------

COMMAND_LINE = re.compile(r"^::(?P<command>error|warning|notice) (?P<properties>[^:]*)::(?P<data>.*)$")


def unescape_data(text: str) -> str:
    """The runner's UnescapeData: %0D, %0A, then %25 last."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    """The runner's UnescapeProperty: %0D, %0A, %3A, %2C, then %25 last."""
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """Parse one workflow command the way the Actions runner does (ActionCommand.TryParseV2)."""
    match = COMMAND_LINE.match(line)
    assert match, line
    properties = {}
    for pair in match["properties"].split(","):
        key, _, value = pair.partition("=")
        properties[key] = unescape_property(value)
    return match["command"], properties, unescape_data(match["data"])


@pytest.mark.parametrize("name", FIXTURES)
def test_github_annotations_parse_back(name: str, catalog: dict[str, Any]) -> None:
    report = load(name)
    out = github.render(report, catalog)
    lines = out.splitlines()
    assert len(lines) == len(report.findings)
    command_of = {"error": "error", "warning": "warning", "info": "notice"}
    for line, finding in zip(lines, report.findings, strict=True):
        command, props, data = parse_command(line)
        assert command == command_of[finding.severity]
        path, lineno = (finding.location.path, finding.location.line) if finding.location else (report.script, 1)
        assert props == {"file": path, "line": str(lineno), "title": f"{finding.code} {finding.rule}"}
        assert data == github.message(report, finding)
        assert data.startswith(finding.message)
        if finding.fix is not None:
            state = "verified" if finding.fix.verified else "not verified"
            assert f"\nFix: {finding.fix.title} ({state}: " in data
    if name == "crash":
        assert "ValueError: corrupt batch 4" in parse_command(lines[0])[2]


def test_github_escapes_like_the_runner(catalog: dict[str, Any]) -> None:
    report = awkward_report()
    lines = github.render(report, catalog).split("\n")
    assert len(lines) == 3, "each command stays on one physical line"
    assert all("\r" not in line for line in lines)
    command, props, data = parse_command(lines[0])
    assert command == "error"
    assert props["file"] == "dir, odd: name/train%.py"
    assert props["line"] == "12"
    assert (
        data
        == AWKWARD
        + ".\nFix: Lower the learning rate: 0.1, then 0.01 (verified: diverged → 0.25 after 100 replay steps)"
    )
    assert "file=dir%2C odd%3A name/train%25.py," in lines[0]
    assert "with %250A and %2525 literally" in lines[0]
    assert parse_command(lines[1])[0] == "notice"
    assert parse_command(lines[2])[1]["line"] == "1"
    assert github.escape_data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    assert github.escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"


# --- Markdown ----------------------------------------------------------------------------------------------


def table_rows(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(markdown.TABLE_HEADER.splitlines()[0])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row: str) -> list[str]:
    """A GFM table row split on the pipes that are not escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


@pytest.mark.parametrize("name", ["interpolation_unscaled", "crash"])
def test_markdown_table_and_details(name: str, catalog: dict[str, Any]) -> None:
    report = load(name)
    out = markdown.render(report, catalog)
    assert out.startswith(f"## fitdoctor: `{report.script}`")
    assert markdown.TABLE_HEADER in out
    rows = table_rows(out)
    assert len(rows) == len(report.findings)
    for row, finding in zip(rows, report.findings, strict=True):
        row_cells = cells(row)
        assert len(row_cells) == 6, row
        assert row_cells[1] == finding.code
        path, line = (finding.location.path, finding.location.line) if finding.location else (report.script, 1)
        assert row_cells[3] == f"`{path}:{line}`"
        assert row_cells[4] == finding.confidence
    assert out.count("<details>") == out.count("</details>") == len(report.findings)
    for finding in report.findings:
        if finding.fix is not None:
            assert f"```python\n{finding.fix.snippet}\n```" in out
            assert ("Verified" if finding.fix.verified else "Not verified") in out
    if name == "crash":
        assert "The check could not run" in out
        assert "ValueError: corrupt batch 4" in out


def test_markdown_healthy(catalog: dict[str, Any]) -> None:
    out = markdown.render(load("gelu_healthy"), catalog)
    assert "No problems found" in out
    assert markdown.TABLE_HEADER not in out and "<details>" not in out


def test_markdown_escapes_pipes_in_cells(catalog: dict[str, Any]) -> None:
    report = awkward_report()
    out = markdown.render(report, catalog)
    rows = table_rows(out)
    assert len(rows) == 3
    first = rows[0]
    assert "third \\| line" in first
    assert all(len(cells(row)) == 6 for row in rows)
    piped = Report(
        version="0.1.0",
        script="t.py",
        status="ok",
        findings=(Finding("FD101", "unscaled-inputs", "warning", "confirmed", "max(|mean|, std) = 3 | 4 is large"),),
    )
    (row,) = table_rows(markdown.render(piped, catalog))
    assert "max(\\|mean\\|, std) = 3 \\| 4 is large" in row
    assert len(cells(row)) == 6
    assert "\n" not in row


def test_markdown_fences_hold_backticks(catalog: dict[str, Any]) -> None:
    fix = Fix(id="x", title="Do it", snippet="print('''```''')", verified=False, before=1.0, after=1.0, steps=3)
    report = Report(
        version="0.1.0",
        script="t.py",
        status="ok",
        findings=(Finding("FD101", "unscaled-inputs", "warning", "suspected", "m", fix=fix),),
    )
    out = markdown.render(report, catalog)
    assert "````python\nprint('''```''')\n````" in out


# --- concise -----------------------------------------------------------------------------------------------


def test_concise_one_line_per_finding_and_summary(catalog: dict[str, Any]) -> None:
    report = load("interpolation_unscaled")
    lines = concise.render(report, catalog).split("\n")
    assert len(lines) == len(report.findings) + 1
    for line, finding in zip(lines[:-1], report.findings, strict=True):
        assert finding.location is not None
        prefix = f"{finding.location.path}:{finding.location.line}: {finding.code} "
        assert line.startswith(prefix + f"[{finding.severity}/{finding.confidence}] ")
        if finding.fix is None:
            assert "(fix: " not in line
        else:
            state = "verified" if finding.fix.verified else "not verified"
            assert f"(fix: {finding.fix.title}; {state}: " in line
            assert line.endswith(")")
    assert [f.severity for f in report.findings] == ["error"] + ["info"] * 5
    assert lines[-1] == "1 error, 0 warnings, 5 info"  # as the full report counts them: "info" has no plural


def test_concise_healthy_and_crash(catalog: dict[str, Any]) -> None:
    assert concise.render(load("gelu_healthy"), catalog) == "No problems found."
    crash = load("crash")
    out = concise.render(crash, catalog)
    first, *rest = out.split("\n")
    location = crash.findings[0].location
    assert location is not None and location.path == crash.script
    assert first.startswith(f"{crash.script}:{location.line}: FD901 [error/confirmed] ")
    assert "\n".join(rest) == (crash.error or {})["traceback"].rstrip()


def test_concise_keeps_multiline_messages_on_one_line(catalog: dict[str, Any]) -> None:
    lines = concise.render(awkward_report(), catalog).split("\n")
    assert len(lines) == 4
    assert lines[0].startswith("dir, odd: name/train%.py:12: FD402 [error/confirmed] 50% of units")
    assert lines[0].endswith("(fix: Lower the learning rate: 0.1, then 0.01; verified: diverged → 0.25)")
    assert lines[2].startswith("train.py:1: FD301 ")
    assert lines[3] == "1 error, 1 warning, 1 info"


#: Rich markup, and a closing tag with nothing open (a MarkupError if it ever reached rich's markup parser).
MARKUP = "[bold red]x[/] [/] [link=http://e]y[/link]"


def markup_report(status: str) -> Report:
    """A report in which every user-supplied string holds rich markup."""
    place = Location(f"dir{MARKUP}/train.py", 4, f"labels = {{'{MARKUP}': 1}}")
    fix = Fix("lower-lr", f"Use {MARKUP}", f"x = '{MARKUP}'", True, "loss", 2.0, 1.0, 10, place, MARKUP)
    finding = Finding(
        code="FD501" if status == "ok" else "FD901",
        rule="learning-rate-too-high" if status == "ok" else "script-crashed",
        severity="warning" if status == "ok" else "error",
        confidence="confirmed",
        message=f"message {MARKUP}",
        location=place,
        module=f"model{MARKUP}",
        fix=fix if status == "ok" else None,
    )
    return Report(
        version="0.1.0",
        script=f"dir{MARKUP}/train.py",
        status=status,
        findings=(finding,),
        training=TrainingSummary(notes=(f"note {MARKUP}",)),
        error=None if status == "ok" else {"message": finding.message, "traceback": f"ValueError: {MARKUP}"},
        files_written=(FileWrite(f"out{MARKUP}.pt", "created", False),),
    )


@pytest.mark.parametrize("status", ["ok", "crashed"])
def test_rich_markup_from_the_user_is_printed_as_written_in_every_renderer(
    catalog: dict[str, Any], status: str
) -> None:
    import io

    from rich.console import Console

    from fitdoctor.report import svg
    from fitdoctor.report.full import render_full

    report = markup_report(status)
    console = Console(file=io.StringIO(), width=400, no_color=True, record=True)
    render_full(report, console, explain=True)
    text = console.export_text()
    # The script, the message, the note (or the traceback) and the written file, each as written.
    assert text.count(MARKUP) >= 4, text
    for module in (concise, markdown, github):
        assert "[bold red]x[/]" in module.render(report, catalog), module
    assert "[bold red]x[/]" in svg.render(report, catalog).replace("&#160;", " ")
