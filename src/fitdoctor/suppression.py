"""Inline suppressions: ``# fitdoctor: ignore[FD301]`` on the line a finding points at."""

from __future__ import annotations

import re
from dataclasses import replace

from fitdoctor.findings import Finding, Report

_PATTERN = re.compile(r"#\s*fitdoctor:\s*ignore(?:\[([^\]]*)\])?", re.IGNORECASE)


def suppressed_codes(line: str) -> set[str] | None:
    """The codes/slugs a line's comment suppresses; an empty set means all; None means no comment."""
    match = _PATTERN.search(line)
    if match is None:
        return None
    if match.group(1) is None:
        return set()
    return {part.strip().lower() for part in match.group(1).split(",") if part.strip()}


def is_suppressed(finding: Finding) -> bool:
    """Whether the line the finding points at suppresses it (by code, code prefix or slug)."""
    if finding.location is None or not finding.location.source:
        return False
    codes = suppressed_codes(finding.location.source)
    if codes is None:
        return False
    return not codes or any(finding.code.lower().startswith(c) or c == finding.rule for c in codes)


def apply_suppressions(report: Report) -> Report:
    """The report without suppressed findings; they move to ``report.suppressed``. Meta findings stay."""
    kept: list[Finding] = []
    dropped: list[Finding] = []
    for f in report.findings:
        (dropped if is_suppressed(f) and not f.code.startswith("FD9") else kept).append(f)
    if not dropped:
        return report
    return replace(report, findings=tuple(kept), suppressed=report.suppressed + tuple(dropped))
