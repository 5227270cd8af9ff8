"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

The log validates against the OASIS schema and keeps to what GitHub's code scanning reads: every rule of the
catalog as a ``reportingDescriptor`` (``shortDescription``, ``fullDescription`` of at most 1024 characters,
``help`` in text and Markdown, ``precision`` and ``problem.severity``), one ``result`` per finding with exactly one
location (a relative path with ``uriBaseId`` ``%SRCROOT%``, or an absolute ``file`` URI) and a
``primaryLocationLineHash`` that ignores the line number, so an alert survives edits that move its line.
A check that could not run still gives a valid log: its meta finding is the result and ``invocations[0]`` says
``executionSuccessful: false`` with the reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding, Report
from fitdoctor.location import Location
from fitdoctor.measured import evidence_to_json
from fitdoctor.report.concise import one_line, position, verdict

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "fitdoctor"
INFORMATION_URI = "https://pypi.org/project/fitdoctor/"
#: The base every relative path is resolved against: the directory fitdoctor ran in (the repository root in CI).
SRCROOT = "%SRCROOT%"

LEVEL = {"error": "error", "warning": "warning", "info": "note"}
#: GitHub's ``problem.severity`` for non-security rules.
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "info": "recommendation"}
#: GitHub shows at most 1024 characters of a rule's short and full description.
DESCRIPTION_LIMIT = 1024


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The report as a SARIF 2.1.0 log.

    Args:
        report: The report to render.
        catalog: The rule catalog by code; every entry becomes a rule of the tool, in this order.

    Returns:
        The SARIF log as indented JSON (no NaN or Infinity), without a final line break.
    """
    return json.dumps(sarif_log(report, catalog), indent=2, allow_nan=False)


def sarif_log(report: Report, catalog: dict[str, RuleDoc]) -> dict[str, Any]:
    """The SARIF log as a JSON-able dict (what :func:`render` serialises).

    Args:
        report: The report to render.
        catalog: The rule catalog by code.

    Returns:
        The ``sarifLog`` object with one run.
    """
    index = {code: i for i, code in enumerate(catalog)}
    seen: dict[str, int] = {}
    results = [_result(report, f, index, seen) for f in report.findings]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(doc) for doc in catalog.values()],
            }
        },
        "invocations": [_invocation(report, index)],
        "results": results,
        "properties": {"script": report.script, "status": report.status, "seed": report.seed},
    }
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _clip(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _rule(doc: RuleDoc) -> dict[str, Any]:
    text = "\n\n".join(
        [
            f"{doc.title} ({doc.code} {doc.slug})",
            f"What it does\n\n{doc.what.strip()}",
            f"Why it matters\n\n{doc.why.strip()}",
            f"How to fix it\n\n{doc.fix.strip()}",
        ]
    )
    markdown = "\n\n".join(
        [
            f"**{doc.title}** (`{doc.code}` `{doc.slug}`): {doc.summary.strip()}",
            f"## What it does\n\n{doc.what.strip()}",
            f"## Why it matters\n\n{doc.why.strip()}",
            f"## Example\n\n{doc.example.strip()}",
            f"## How to fix it\n\n{doc.fix.strip()}",
            f"## How fitdoctor verifies it\n\n{doc.confirm.strip()}",
            "## References\n\n" + "\n".join(f"- {ref}" for ref in doc.references),
        ]
    )
    return {
        "id": doc.code,
        # GitHub lists and filters alerts by this name: the slug users already write in --select, --ignore and
        # ``# fitdoctor: ignore[...]``, rather than the PascalCase the SARIF SDK's validator suggests.
        "name": doc.slug,
        "shortDescription": {"text": _clip(doc.title)},
        "fullDescription": {"text": _clip(doc.summary)},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL.get(doc.severity, "warning")},
        "properties": {
            "tags": [doc.category],
            # Every diagnostic rule's finding is confirmed by a replay or by the short training before it is
            # reported above info; the meta rules (FD9xx) report facts of the run itself.
            "precision": "very-high" if doc.category == "meta" else "high",
            "problem.severity": PROBLEM_SEVERITY.get(doc.severity, "warning"),
        },
    }


def artifact_location(path: str) -> dict[str, Any]:
    """A path as a SARIF ``artifactLocation``: relative paths keep ``uriBaseId`` ``%SRCROOT%``.

    Args:
        path: A file path as fitdoctor reports it (relative as given on the command line, or absolute).

    Returns:
        ``{"uri": ...}``, with forward slashes and percent-encoding; relative ones also carry ``uriBaseId``.
    """
    windows = PureWindowsPath(path)
    if windows.drive and windows.is_absolute():
        return {"uri": windows.as_uri()}
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return {"uri": posix.as_uri()}
    return {"uri": quote(posix.as_posix(), safe="/"), "uriBaseId": SRCROOT}


def _physical(loc: Location | tuple[str, int], source: str = "") -> dict[str, Any] | None:
    path, line = (loc.path, loc.line) if isinstance(loc, Location) else loc
    if not path or path.startswith("<"):  # ``<api>``: no file to point at
        return None
    region: dict[str, Any] = {"startLine": max(1, int(line))}
    if source:
        region["snippet"] = {"text": source}
    return {"artifactLocation": artifact_location(path), "region": region}


def line_hash(code: str, path: str, source: str) -> str:
    """A stable hash of a finding's rule, file and source line (not its line number), 16 hex digits.

    Args:
        code: The rule code.
        path: The file, as reported.
        source: The text of the line, stripped.

    Returns:
        The first 16 hex digits of the SHA-256 of the three, joined by NUL.
    """
    digest = hashlib.sha256("\0".join((code, path.replace("\\", "/"), source.strip())).encode("utf-8"))
    return digest.hexdigest()[:16]


def _message(finding: Finding) -> str:
    text = one_line(finding.message).rstrip(".") + "."
    if finding.fix is not None:
        text += f" Fix: {one_line(finding.fix.title)} ({verdict(finding.fix)})."
    return text


def _result(report: Report, finding: Finding, index: dict[str, int], seen: dict[str, int]) -> dict[str, Any]:
    path, line = position(report, finding)
    source = finding.location.source if finding.location is not None else ""
    digest = line_hash(finding.code, path, source)
    seen[digest] = seen.get(digest, 0) + 1
    result: dict[str, Any] = {"ruleId": finding.code}
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    result["level"] = LEVEL.get(finding.severity, "warning")
    result["message"] = {"text": _message(finding)}
    physical = _physical((path, line), source)
    result["locations"] = [{"physicalLocation": physical}] if physical else []
    fix_loc = finding.fix.location if finding.fix is not None else None
    if fix_loc is not None and (fix_loc.path, fix_loc.line) != (path, line):
        related = _physical(fix_loc, fix_loc.source)
        if related:
            # GitHub rejects a related location without a message.
            result["relatedLocations"] = [
                {"id": 1, "physicalLocation": related, "message": {"text": "where the fix applies"}}
            ]
    fixes = _fixes(report, finding)
    if fixes:
        result["fixes"] = fixes
    result["partialFingerprints"] = {"primaryLocationLineHash": f"{digest}:{seen[digest]}"}
    properties: dict[str, Any] = {
        "rule": finding.rule,
        "confidence": finding.confidence,
        "evidence": json_safe(evidence_to_json(finding.evidence)),
        "fix": json_safe(asdict(finding.fix)) if finding.fix is not None else None,
    }
    if finding.alternatives:
        properties["alternatives"] = [json_safe(asdict(a)) for a in finding.alternatives]
    if finding.caused_by:
        properties["causedBy"] = list(finding.caused_by)
    if finding.module:
        properties["module"] = finding.module
    result["properties"] = properties
    return result


def _fixes(report: Report, finding: Finding) -> list[dict[str, Any]]:
    """The finding's fix as SARIF ``fixes`` (artifact changes with replacements) when the patch holds it."""
    if report.patch is None:
        return []
    out = []
    for fix in report.patch.fixes:
        if fix.code != finding.code or not fix.replacements:
            continue
        changes: dict[str, list[dict[str, Any]]] = {}
        for r in fix.replacements:
            changes.setdefault(r.path, []).append(
                {"deletedRegion": {"charOffset": r.offset, "charLength": r.length}, "insertedContent": {"text": r.text}}
            )
        proof = " (verified by running the patched script)" if report.patch.verified else ""
        out.append(
            {
                "description": {"text": fix.title + proof},
                "artifactChanges": [
                    {"artifactLocation": artifact_location(path), "replacements": replacements}
                    for path, replacements in changes.items()
                ],
            }
        )
    return out


def _invocation(report: Report, index: dict[str, int]) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": report.status == "ok"}
    if report.status != "ok":
        error = report.error or {}
        meta = report.findings[0] if report.findings else None
        message = str(
            error.get("message") or (meta.message if meta else f"the check ended with status {report.status}")
        )
        notification: dict[str, Any] = {"level": "error", "message": {"text": one_line(message)}}
        code = str(error.get("code") or (meta.code if meta else ""))
        if code:
            reference: dict[str, Any] = {"id": code}
            if code in index:
                reference["index"] = index[code]
            notification["associatedRule"] = reference
        invocation["toolExecutionNotifications"] = [notification]
        invocation["properties"] = {"status": report.status}
    return invocation


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None and every non-JSON object by its text.

    Args:
        value: Evidence or a fix as plain Python data.

    Returns:
        Data that ``json.dumps(..., allow_nan=False)`` accepts.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)
